"""JupyterHub for a needle-edu class: students fetch, work and submit in JupyterLab; instructors grade
with the course tool. See README.md next to this file.

    jupyterhub -f deploy/jupyterhub/jupyterhub_config.py      # as root, from the repository root

Settings come from the environment: NEEDLE_EDU_HUB_ROOT (the student side, made by
``python -m autograder.hub setup``; default /srv/needle-edu), NEEDLE_EDU_EXCHANGE (nbgrader's
exchange; default /srv/nbgrader/exchange), NEEDLE_EDU_INSTRUCTORS (comma-separated hub user names).
"""
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from autograder import hub  # noqa: E402

c = get_config()  # noqa: F821 (JupyterHub provides it)
INSTRUCTORS = sorted(filter(None, os.environ.get("NEEDLE_EDU_INSTRUCTORS", "instructor").split(",")))

# Who may log in: unix accounts (PAM). Swap in the class's own sign-in, e.g.
# c.JupyterHub.authenticator_class = "oauthenticator.GitHubOAuthenticator", and list the roster
# in allowed_users (or allow a whole organisation, as that authenticator offers).
c.JupyterHub.authenticator_class = "pam"
c.Authenticator.admin_users = set(INSTRUCTORS)
c.JupyterHub.load_groups = {"instructors": {"users": INSTRUCTORS}}

# Each user's server runs as their own unix account: nbgrader names a submission by it, and the
# exchange's inbound folder (write-only for students) keeps students out of each other's work.
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.pre_spawn_hook = hub.spawn_settings(os.environ.get("NEEDLE_EDU_HUB_ROOT", str(hub.ROOT)), INSTRUCTORS)
c.Spawner.env_keep = ["LANG", "LC_ALL"]  # none of the hub's Python paths reach a student's server
c.Spawner.default_url = "/lab"

# The proxy from its npm package; `make setup` installs it under build/node.
proxy = REPO / "build" / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
if proxy.exists():
    c.ConfigurableHTTPProxy.command = [str(proxy)]

# The hub's own state (its database and cookie secret) lives in its working folder.
c.JupyterHub.bind_url = os.environ.get("NEEDLE_EDU_HUB_URL", "http://:8000")
