"""Imports every module that defines tables, so SQLModel.metadata (and Alembic) sees them all."""

import pkgutil
from importlib import import_module

import bot.db

for _module in pkgutil.iter_modules(bot.db.__path__):
    if _module.name.startswith("models"):
        import_module(f"bot.db.{_module.name}")
