"""The sandbox's browser console: a small Slack look-alike over the Slack stand-in.

`server.ConsoleApp` is a WSGI app (served by werkzeug like the stand-ins). The browser shows what
the chosen person sees in the stand-in (`screen.py`) and the other stand-ins' state (`panel.py`);
everything a person does is turned into `SlackDriver` calls, so the bot receives exactly what Slack
would send. The page is plain HTML, CSS and JavaScript modules under `static/` (no build step).
"""
