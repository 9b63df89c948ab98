# One image for web, worker and gpu-worker; docker-compose.yml picks the command.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY requirements.txt requirements-gpu.txt ./
ARG GPU=0
RUN pip install --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple torch==2.13.0 \
 && pip install -r requirements.txt \
 && if [ "$GPU" = "1" ]; then pip install --index-url https://download.pytorch.org/whl/cu128 -r requirements-gpu.txt; fi
COPY . .
# collectstatic needs settings, hence a secret key: a random one that lives only for this step (the start-up
# guard refuses short keys), never the deployment's key, which must not be baked into the image.
RUN DJANGO_SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" SKINFLOW_DATA_DIR=/tmp/build \
    python manage.py collectstatic --noinput -v0 \
 && mkdir -p /data/static && cp -r /tmp/build/static/. /data/static/
EXPOSE 8000
# gthread workers (3 processes x 4 threads, keep-alive): webapp/gunicorn_conf.py says why and what measured it.
CMD ["gunicorn", "--config", "webapp/gunicorn_conf.py", "webapp.wsgi:application"]
