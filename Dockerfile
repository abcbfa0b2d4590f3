# SyncLab image for docker-compose: the web process and the workers share it.
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg espeak-ng libespeak-ng1 libsndfile1 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt constraints.txt ./
RUN pip install --no-cache-dir -c constraints.txt -r requirements.txt
COPY . .
RUN pip install --no-cache-dir --no-deps -e . && python manage.py collectstatic --noinput
ENV DJANGO_SETTINGS_MODULE=webapp.settings GRADIO_ANALYTICS_ENABLED=False PYTHONUNBUFFERED=1
EXPOSE 8000
CMD ["uvicorn", "webapp.asgi:application", "--host", "0.0.0.0", "--port", "8000"]
