"""Signing in to the scheduler UI (failures throttled by worklist.ui.lockout)."""

from django.contrib.auth.views import LoginView

from worklist.ui.forms import (
    LoginForm,
)


class Login(LoginView):
    form_class = LoginForm
    template_name = "ui/login.html"
    redirect_authenticated_user = True
