"""The Celery application. `celery -A ris worker` starts a worker on these settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ris.settings")

app = Celery("ris")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["ris"])  # ris/tasks.py: the project package is not an installed app
