"""The local AWS's HTTP/1.1 server: a thread per connection, and connections kept alive.

AWS keeps HTTPS connections alive, and the SDKs reuse them: a call on a warm connection costs no
handshake. Werkzeug's development server closes every connection after one response
(`Connection: close` on every answer), so a client here paid a new TCP connection per call, which
inflates the CPU a function spends per request. This server runs the same WSGI application but
keeps each connection open for further requests until the client closes it, asks for
`Connection: close`, speaks HTTP/1.0, or leaves it idle for `IDLE_SECS`.

The WSGI environ is built as werkzeug builds it (PATH_INFO percent-decoded, the raw request target
in RAW_URI and REQUEST_URI, the connection's socket in `werkzeug.socket` so a fault can drop it),
and header names with underscores are kept (moto's server keeps them for S3 metadata). A request
body comes with Content-Length or chunked transfer coding; an application that answers nothing
(a dropped connection) closes the connection without a response.
"""

import io
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

# Seconds an idle kept-alive connection stays open (longer than the SDKs' pools keep an idle
# connection: hyper's default is 90 s, so the client, not the server, closes idle connections).
IDLE_SECS = 120.0
# Bodies larger than this are refused (413), as AWS's fronts refuse far smaller ones.
MAX_BODY = 64 * 1024 * 1024


class BadRequest(Exception):
    pass


class KeepAliveHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # A kept-alive connection carries small writes: without TCP_NODELAY, Nagle's algorithm and
    # the client's delayed ACK hold each answer back ~40 ms (AWS's endpoints answer at once).
    disable_nagle_algorithm = True
    timeout = IDLE_SECS
    server_version = "localaws"
    sys_version = ""

    def log_message(self, *args):
        pass

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts, total = [], 0
            while True:
                line = self.rfile.readline(65537)
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError as e:
                    raise BadRequest("bad chunk size") from e
                if size == 0:
                    # Trailers end with an empty line.
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                total += size
                if total > MAX_BODY:
                    raise BadRequest("body too large")
                parts.append(self.rfile.read(size))
                self.rfile.readline(3)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError as e:
            raise BadRequest("bad Content-Length") from e
        if length < 0 or length > MAX_BODY:
            raise BadRequest("bad Content-Length")
        return self.rfile.read(length) if length else b""

    def _environ(self, body: bytes) -> dict:
        target = self.path
        path, _, query = target.partition("?")
        host, port = self.server.server_address[:2]
        environ = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            # WSGI: the percent-decoded path's UTF-8 bytes as latin-1 (what werkzeug passes).
            "PATH_INFO": unquote(path).encode("utf-8").decode("latin-1"),
            "QUERY_STRING": query,
            "RAW_URI": target,
            "REQUEST_URI": target,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "SERVER_NAME": host,
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": self.client_address[1],
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "werkzeug.socket": self.connection,
        }
        underscored = {}
        for name, value in self.headers.items():
            if name.lower() in ("content-type", "content-length", "transfer-encoding"):
                continue
            key = "HTTP_" + name.upper().replace("-", "_")
            if "_" in name:
                # A dashed header of the same spelling wins (no spoofing one with the other).
                if key in environ:
                    continue
                underscored[key] = name
            elif key in environ and key not in underscored:
                environ[key] += "," + value
                continue
            environ[key] = value.replace("\r\n", "")
        if underscored:
            try:
                from moto.moto_server.werkzeug_app import PRESERVED_HEADER_NAMES_ENVIRON_KEY
            except ImportError:
                PRESERVED_HEADER_NAMES_ENVIRON_KEY = None
            if PRESERVED_HEADER_NAMES_ENVIRON_KEY:
                environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = underscored
        return environ

    def _run(self):
        try:
            body = self._body()
        except (BadRequest, ValueError) as e:
            self.send_error(400 if "large" not in str(e) else 413, str(e))
            self.close_connection = True
            return
        started = {}

        def start_response(status, headers, exc_info=None):
            started["status"], started["headers"] = status, headers
            return lambda data: None

        try:
            chunks = self.server.app(self._environ(body), start_response)
            try:
                payload = b"".join(chunks)
            finally:
                if hasattr(chunks, "close"):
                    chunks.close()
        except Exception as e:  # noqa: BLE001 - one request's failure never takes the server down
            print(f"localaws: unhandled error: {e!r}", file=sys.stderr, flush=True)
            self.send_error(500)
            self.close_connection = True
            return
        if "status" not in started:
            # The application dropped the connection (an injected fault): no answer at all.
            self.close_connection = True
            return
        code, _, reason = started["status"].partition(" ")
        self.send_response(int(code), reason or None)
        closing = self.close_connection  # the client asked for it, or speaks HTTP/1.0
        sent = set()
        for name, value in started["headers"]:
            sent.add(name.lower())
            self.send_header(name, value)
        if "content-length" not in sent:
            self.send_header("Content-Length", str(len(payload)))
        if closing and "connection" not in sent:
            self.send_header("Connection", "close")
        # Status line, headers and body in one write (one segment for a small answer).
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD" and payload:
            self._headers_buffer.append(payload)
        self.wfile.write(b"".join(self._headers_buffer))
        self._headers_buffer = []

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _run

    def handle(self):
        try:
            super().handle()
        except (ConnectionError, socket.timeout, TimeoutError):
            pass


class KeepAliveServer(ThreadingHTTPServer):
    daemon_threads = True
    # Connections from many clients at once (a load test) wait in the listen queue, not refused.
    request_queue_size = 256

    def __init__(self, address, app):
        self.app = app
        super().__init__(address, KeepAliveHandler)


def make_server(host: str, port: int, app) -> KeepAliveServer:
    return KeepAliveServer((host, port), app)
