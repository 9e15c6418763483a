"""A stand-in for the external email-validation API the enricher calls (the seed's took 200-1200 ms).

``python validation_api.py PORT [DELAY_SECONDS]`` serves ``GET /v2/email?address=...`` with
``{"verdict": "valid" | "invalid"}`` after DELAY (default 0.05 s), one thread per request.
"""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def make_handler(delay: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != "/v2/email":
                self.send_error(404)
                return
            address = parse_qs(parts.query).get("address", [""])[0]
            time.sleep(delay)  # the remote API's latency, which is the point of the example
            body = json.dumps({"verdict": "valid" if "@" in address else "invalid"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def serve(port: int, delay: float) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(delay))
    server.daemon_threads = True
    return server


if __name__ == "__main__":
    serve(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.05).serve_forever()
