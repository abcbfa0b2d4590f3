"""The Hugging Face Space: the demo's Gradio Blocks, jobs run in-process (no Django, no Celery)."""
