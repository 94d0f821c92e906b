# The RIS: one image for every process (web, DICOM listener, Celery worker).
#   docker build -t ris .
#   docker run -e SECRET_KEY=... -e RIS_AUDIT_KEY=... -p 8000:8000 -p 11112:11112 -v ris-data:/data ris
# With nothing else set it runs embedded (SQLite under /data, tasks in-process);
# docker-compose.yml runs it on PostgreSQL and Redis, one process per container.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, from pyproject.toml at the exact versions of constraints.txt (the
# ones CI tests), so a code change does not reinstall them and a rebuild gets the same.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt -c constraints.txt \
    && rm /tmp/requirements.txt

# Editable, so every process imports the code and finds templates/ in /app whatever
# its working directory (the celery script does not run from here).
COPY . .
RUN pip install --no-deps -e . \
    && groupadd --system ris \
    && useradd --system --gid ris --home-dir /app --no-create-home --shell /usr/sbin/nologin ris \
    && mkdir /data \
    && chown ris:ris /data

USER ris

ENV RIS_DATA_DIR=/data \
    RIS_HTTP_HOST=0.0.0.0 \
    RIS_HTTP_PORT=8000 \
    RIS_DICOM_HOST=0.0.0.0 \
    RIS_DICOM_PORT=11112

VOLUME ["/data"]
EXPOSE 8000 11112

HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["python", "manage.py", "runris"]
