"""How a chat's posts look, set with /settings: images on|off, style default|compact|full, and
a bot admin's template."""

from __future__ import annotations

from handlers.context import Ctx
from handlers.events import Command, UserError
from handlers.i18n import t
from handlers.permissions import BOT_ADMIN, audit, require, require_chat_rights
from handlers.post_compose import template_parts
from storage.models import ChatSettings

POST_SETTINGS = {
    "images": ("on", "off"),
    "style": ("default", "compact", "full"),
}
USAGE = "/settings images on|off · style default|compact|full · template TEXT"


def is_post_setting(name: str) -> bool:
    return name in POST_SETTINGS or name == "template"


def change_post_setting(ctx: Ctx, cmd: Command, name: str, words: tuple[str, ...]) -> None:
    """Change one of the chat's post settings; UserError for a value that does not fit."""
    if name == "template":
        template = " ".join(words).strip()
        # Every placeholder and the length are checked now, not at the next post.
        template_parts(template)
        require(ctx, cmd, BOT_ADMIN, target=f"template={template[:50]}")
        ctx.store.update_chat_settings(cmd.chat, post_style="template", post_template=template)
        audit(ctx, cmd, "settings", target=f"template={template[:200]}")
        return
    value = words[0].lower() if len(words) == 1 else ""
    if value not in POST_SETTINGS[name]:
        raise UserError("admin.bad_setting", name=name, values="|".join(POST_SETTINGS[name]))
    require_chat_rights(ctx, cmd, target=f"{name}={value}")
    if name == "images":
        ctx.store.update_chat_settings(cmd.chat, images=value == "on")
    else:
        ctx.store.update_chat_settings(cmd.chat, post_style=value)
    audit(ctx, cmd, "settings", target=f"{name}={value}")


def post_settings_text(settings: ChatSettings) -> str:
    """The chat's post settings, for /settings."""
    style = settings.post_style
    shown = t(f"style.name_{style}")
    if style == "template" and settings.post_template:
        shown = f"{shown}: {settings.post_template}"
    return t(
        "style.settings",
        images=t("admin.on") if settings.images else t("admin.off"),
        style=shown,
    )
