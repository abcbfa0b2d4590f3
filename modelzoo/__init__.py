"""SyncLab's model library: media I/O, corruption, the three models and the zoo; no Django, no Celery."""
