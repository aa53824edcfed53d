"""IAM enforcement: exact-ARN policies work; a missing action or a wrong ARN is denied."""

import json
import os
import subprocess
import sys
import tempfile
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import HERE, Local, _free_port

INDEX_ARN = "arn:aws:s3vectors:us-east-1:123456789012:bucket/iam-bucket/index/idx"


@pytest.fixture(scope="module")
def enforced():
    port = _free_port()
    state = tempfile.mkdtemp(prefix="localaws-iam-")
    env = dict(os.environ, PYTHONPATH=str(HERE), LOCALAWS_STATE_DIR=state)
    proc = subprocess.Popen([sys.executable, "-m", "localaws.server", "--port", str(port), "--enforce-iam"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    local = Local(port)
    for _ in range(100):
        try:
            local.control("health")
            break
        except OSError:
            time.sleep(0.1)
    yield local
    proc.terminate()
    proc.wait(10)


def client(local, service, key, secret):
    return boto3.client(service, endpoint_url=local.url, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret, config=Config(retries={"total_max_attempts": 1}))


def user_with(local, admin_iam, name, statements):
    admin_iam.create_user(UserName=name)
    admin_iam.put_user_policy(UserName=name, PolicyName="p",
                              PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    k = admin_iam.create_access_key(UserName=name)["AccessKey"]
    return k["AccessKeyId"], k["SecretAccessKey"]


def code(e):
    return e.value.response["Error"]["Code"]


def test_least_privilege_is_enforced_per_action_and_arn(enforced):
    creds = enforced.control("credentials")
    admin = (creds["AccessKeyId"], creds["SecretAccessKey"])
    with pytest.raises(ClientError):
        client(enforced, "iam", "AKIAUNKNOWNKEY000000", "x").list_roles()
    iam = client(enforced, "iam", *admin)
    s3v = client(enforced, "s3vectors", *admin)
    s3v.create_vector_bucket(vectorBucketName="iam-bucket")
    s3v.create_index(vectorBucketName="iam-bucket", indexName="idx", dataType="float32", dimension=2,
                     distanceMetric="cosine", metadataConfiguration={"nonFilterableMetadataKeys": ["text"]})
    s3v.create_index(vectorBucketName="iam-bucket", indexName="other", dataType="float32", dimension=2, distanceMetric="cosine")
    s3v.put_vectors(vectorBucketName="iam-bucket", indexName="idx",
                    vectors=[{"key": "a", "data": {"float32": [1, 0]}, "metadata": {"t": "x"}}])

    reader = client(enforced, "s3vectors", *user_with(enforced, iam, "reader", [
        {"Effect": "Allow", "Action": ["s3vectors:QueryVectors"], "Resource": INDEX_ARN}]))
    q = dict(vectorBucketName="iam-bucket", indexName="idx", topK=1, queryVector={"float32": [1, 0]})
    assert reader.query_vectors(**q)["vectors"][0]["key"] == "a"
    with pytest.raises(ClientError) as e:
        reader.query_vectors(**q, returnMetadata=True)
    assert code(e) == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        reader.query_vectors(**{**q, "indexName": "other"})
    assert code(e) == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        reader.put_vectors(vectorBucketName="iam-bucket", indexName="idx",
                           vectors=[{"key": "b", "data": {"float32": [0, 1]}}])
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403

    full = client(enforced, "s3vectors", *user_with(enforced, iam, "full", [
        {"Effect": "Allow", "Action": ["s3vectors:QueryVectors", "s3vectors:GetVectors", "s3vectors:PutVectors"],
         "Resource": INDEX_ARN}]))
    assert full.query_vectors(**q, returnMetadata=True)["vectors"][0]["metadata"] == {"t": "x"}
    full.put_vectors(vectorBucketName="iam-bucket", indexName="idx", vectors=[{"key": "b", "data": {"float32": [0, 1]}}])


def test_invoke_endpoint_is_judged_against_the_endpoint_arn(enforced):
    creds = enforced.control("credentials")
    iam = client(enforced, "iam", creds["AccessKeyId"], creds["SecretAccessKey"])
    enforced.control("endpoints", {"name": "other-endpoint"})
    sm = client(enforced, "sagemaker-runtime", *user_with(enforced, iam, "embedder", [
        {"Effect": "Allow", "Action": "sagemaker:InvokeEndpoint",
         "Resource": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/alex-embedding-endpoint"}]))
    body = json.dumps({"inputs": "hi"})
    sm.invoke_endpoint(EndpointName="alex-embedding-endpoint", ContentType="application/json", Body=body)
    with pytest.raises(ClientError) as e:
        sm.invoke_endpoint(EndpointName="other-endpoint", ContentType="application/json", Body=body)
    assert code(e) == "AccessDeniedException"
