"""Entry point of the SyncLab Hugging Face Space (`app_file` in this folder's README front matter).

Serves the site's Gradio Blocks with the in-process backend. HOST and PORT choose the address;
unset, Gradio's own defaults apply (a Space sets GRADIO_SERVER_NAME and GRADIO_SERVER_PORT).
"""

import os
import sys
from pathlib import Path

# `python webapp/space/app.py` puts this folder, not the repository root, on sys.path.
REPOSITORY = Path(__file__).resolve().parents[2]
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from webapp.demo.blocks import build_demo  # noqa: E402
from webapp.space.backend import InProcessBackend, work_dir_from_env  # noqa: E402

backend = InProcessBackend(work_dir_from_env())
demo = build_demo(backend, title="SyncLab")

if __name__ == "__main__":
    port = os.environ.get("PORT")
    demo.queue().launch(
        server_name=os.environ.get("HOST"),
        server_port=int(port) if port else None,
        allowed_paths=[str(backend.work_dir)],  # job outputs live there, outside Gradio's cache
    )
