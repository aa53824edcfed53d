"""Safety of the local AWS itself: loopback-only Host (DNS rebinding), deployment packages that
try to write outside their directory (zip-slip), and `ctl env` failing closed."""

import http.client
import io
import os
import socket
import stat
import subprocess
import tempfile
import zipfile

import pytest
from botocore.exceptions import ClientError
from conftest import HERE
from helpers import make_function, make_role, zip_bytes

from localaws.awslambda import MAX_UNZIPPED_BYTES, UNZIP_ERROR, WarmFunction, extract, zip_problem
from localaws.launcher import free_port

SYMLINK = stat.S_IFLNK | 0o777


def package(*entries) -> bytes:
    """A zip of (name, data, mode) entries; a mode with S_IFLNK makes a symlink to `data`."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            zf.writestr(info, data)
    return buf.getvalue()


def request(port, path, host, method="GET", body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers={"Host": host, **(headers or {})})
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type"), r.read()
    finally:
        conn.close()


def request_without_host(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split()[1]), data


# ---- loopback only ----------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1.nip.io", "localhost.evil.example", "128.0.0.1",
                                  "127.0.0.256", "[::2]", "0.0.0.0", "evil.example:{port}"])
def test_non_loopback_host_is_refused_before_anything_runs(aws, host):
    host = host.format(port=aws.port)
    status, ctype, body = request(aws.port, "/_localaws/health", host)
    assert status == 403 and ctype.startswith("text/plain") and b"127.0.0.1, localhost or [::1]" in body
    # An AWS API call (IAM ListRoles) and a stage invocation: refused, never recorded.
    status, _, _ = request(aws.port, "/", host, "POST", "Action=ListRoles&Version=2010-05-08", {
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/iam/aws4_request, "
                         "SignedHeaders=host, Signature=0"})
    assert status == 403
    assert request(aws.port, "/restapis/abc/prod/_user_request_/echo", host, "POST", "{}")[0] == 403
    assert aws.requests() == []


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:{port}", "localhost", "LOCALHOST:{port}", "127.9.8.7:1",
                                  "[::1]", "[::1]:{port}"])
def test_loopback_names_are_served(aws, host):
    assert request(aws.port, "/_localaws/health", host.format(port=aws.port))[0] == 200


def test_request_without_host_is_refused(aws):
    status, data = request_without_host(aws.port, "/_localaws/health")
    assert status == 403 and b"Host was missing" in data


def test_runtime_api_refuses_non_loopback_host(tmp_path):
    warm = WarmFunction("k", zip_bytes("#!/bin/sh\nexec sleep 30\n"), {"PATH": "/usr/bin:/bin"}, "arn:fn",
                        str(tmp_path / "log"))
    try:
        port = warm.server.server_address[1]
        assert request(port, "/2018-06-01/runtime/invocation/next", "evil.example")[0] == 403
        assert request(port, "/2018-06-01/runtime/invocation/x/response", "evil.example:80", "POST", "{}")[0] == 403
        assert request_without_host(port, "/2018-06-01/runtime/invocation/next")[0] == 403
        # A loopback Host gets through (an unknown path: 404, without waiting for an invocation).
        assert request(port, "/nothing", f"127.0.0.1:{port}")[0] == 404
    finally:
        warm.stop()


# ---- deployment packages ------------------------------------------------------------------------

BAD_PACKAGES = {
    "absolute path": package(("bootstrap", "x", 0o755), ("/tmp/evil", "x", 0o644)),
    "dot-dot": package(("bootstrap", "x", 0o755), ("lib/../../evil", "x", 0o644)),
    "backslash dot-dot": package(("bootstrap", "x", 0o755), ("..\\evil", "x", 0o644)),
    "absolute symlink": package(("bootstrap", "x", 0o755), ("etc", "/etc", SYMLINK)),
    "escaping symlink": package(("bootstrap", "x", 0o755), ("lib/up", "../..", SYMLINK)),
    "not a zip": b"PK\x03\x04 this is not a zip",
}


def corrupt_package() -> bytes:
    data = bytearray(package(("bootstrap", "#!/bin/sh\n" + "echo hello\n" * 200, 0o755)))
    i = data.index(b"bootstrap") + len("bootstrap") + 20  # inside the compressed data
    data[i] ^= 0xFF
    return bytes(data)


def test_package_checks():
    assert zip_problem(zip_bytes()) is None
    assert zip_problem(package(("bootstrap", "x", 0o755), ("bin/run", "../bootstrap", SYMLINK))) is None
    for name, code in BAD_PACKAGES.items():
        assert zip_problem(code) == UNZIP_ERROR, name
    assert zip_problem(corrupt_package()) == UNZIP_ERROR


def test_bad_packages_are_refused_like_lambda(aws):
    make_function(aws, "f")
    lam = aws.client("lambda")
    role = make_role(aws, "g-role")
    for name, code in [*BAD_PACKAGES.items(), ("corrupt", corrupt_package())]:
        with pytest.raises(ClientError) as e:
            lam.create_function(FunctionName="g", Runtime="provided.al2023", Role=role, Handler="bootstrap",
                                Code={"ZipFile": code})
        assert e.value.response["Error"]["Code"] == "InvalidParameterValueException", name
        assert e.value.response["Error"]["Message"] == UNZIP_ERROR, name
        with pytest.raises(ClientError) as e:
            lam.update_function_code(FunctionName="f", ZipFile=code)
        assert e.value.response["Error"]["Message"] == UNZIP_ERROR, name
    assert [f["FunctionName"] for f in lam.list_functions()["Functions"]] == ["f"]


def test_package_over_250_mb_unzipped_is_refused(aws):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bootstrap", "x")
        with zf.open("data", "w", force_zip64=True) as f:
            chunk = bytes(1 << 20)
            for _ in range(MAX_UNZIPPED_BYTES >> 20):
                f.write(chunk)
    code = buf.getvalue()
    assert len(code) < 1 << 20
    make_function(aws, "f")
    with pytest.raises(ClientError) as e:
        aws.client("lambda").update_function_code(FunctionName="f", ZipFile=code)
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert e.value.response["Error"]["Message"] == "Unzipped size must be smaller than 262144000 bytes"


def test_extraction_stays_inside_its_directory(tmp_path):
    base = tmp_path / "pkg"
    base.mkdir()
    # `x` is created while `r` does not exist yet, so it looks harmless; once `r` -> "." exists,
    # `x` -> "r/.." is the parent directory, and `x/evil` would land outside.
    sneaky = package(("bootstrap", "x", 0o755), ("x", "r/..", SYMLINK), ("r", ".", SYMLINK), ("x/evil", "boom", 0o644))
    with pytest.raises(zipfile.BadZipFile):
        extract(sneaky, str(base))
    assert sorted(os.listdir(tmp_path)) == ["pkg"]
    for name, code in BAD_PACKAGES.items():
        target = tempfile.mkdtemp(dir=tmp_path)
        with pytest.raises(zipfile.BadZipFile):
            extract(code, target)
    assert not (tmp_path.parent / "evil").exists() and not os.path.exists("/tmp/evil")
    good = tmp_path / "good"
    good.mkdir()
    extract(package(("bootstrap", "#!/bin/sh\n", 0o755), ("lib/a", "a", 0o640), ("bin/a", "../lib/a", SYMLINK)),
            str(good))
    assert os.stat(good / "bootstrap").st_mode & 0o777 == 0o755
    assert os.readlink(good / "bin/a") == "../lib/a" and (good / "bin/a").read_text() == "a"


def test_warm_function_refuses_an_unsafe_package_and_cleans_up(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(zipfile.BadZipFile):
        WarmFunction("k", BAD_PACKAGES["escaping symlink"], {}, "arn:fn", str(tmp_path / "log"))
    assert os.listdir(tmp_path) == []


# ---- ctl env fails closed ---------------------------------------------------------------------

REAL = {"AWS_ACCESS_KEY_ID": "AKIAREALREALREALREAL", "AWS_SECRET_ACCESS_KEY": "real-secret",
        "AWS_SESSION_TOKEN": "real-token", "AWS_PROFILE": "prod", "AWS_DEFAULT_PROFILE": "prod",
        "AWS_ENDPOINT_URL_S3": "https://s3.amazonaws.com", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true",
        "AWS_CONFIG_FILE": "/home/me/.aws/config"}


def eval_ctl_env(port, script='eval "$(LOCALAWS_PORT={port} {ctl} env)"; echo "rc=$?"; env | grep ^AWS_ | sort'):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(REAL)
    out = subprocess.run(["bash", "-c", script.format(port=port, ctl=HERE / "ctl")], env=env, capture_output=True,
                         text=True, timeout=60)
    return out.stdout, out.stderr


def parse(stdout):
    lines = stdout.splitlines()
    return lines[0], dict(line.split("=", 1) for line in lines[1:])


def test_ctl_env_fails_closed_when_nothing_answers():
    port = free_port()
    stdout, stderr = eval_ctl_env(port)
    rc, env = parse(stdout)
    assert rc == "rc=1" and "not answering" in stderr
    assert env == {"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                   "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
                   "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
    # ctl itself exits 1; under `set -e` (the demo) nothing after the eval runs.
    assert subprocess.run([str(HERE / "ctl"), "env"], env=dict(os.environ, LOCALAWS_PORT=str(port)),
                          capture_output=True).returncode == 1
    stdout, _ = eval_ctl_env(port, 'set -e; eval "$(LOCALAWS_PORT={port} {ctl} env)"; echo reached')
    assert "reached" not in stdout
    stdout, stderr = eval_ctl_env(port, 'eval "$(LOCALAWS_PORT="1; echo pwned" {ctl} env)"; echo "rc=$?"')
    assert "pwned" not in stdout and "rc=1" in stdout and "port number" in stderr


def test_ctl_env_points_at_the_local_aws_with_its_keys(aws):
    stdout, stderr = eval_ctl_env(aws.port)
    rc, env = parse(stdout)
    creds = aws.control("credentials")
    assert rc == "rc=0", stderr
    assert env == {"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                   "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{aws.port}",
                   "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
                   "AWS_ACCESS_KEY_ID": creds["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"]}
