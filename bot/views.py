"""Buttons: picking a face to enrol, paging through characters. Each view answers only its invoker."""

from __future__ import annotations

import discord

from .errors import answer_error

MAX_PICKABLE = 24  # 25 buttons per message, one of them "Cancel"


class InvokerView(discord.ui.View):
    """A view that only the user who ran the command may use."""

    def __init__(self, invoker_id: int, timeout: float | None) -> None:
        super().__init__(timeout=timeout)
        self.invoker_id = invoker_id

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.invoker_id:
            return True
        await interaction.response.send_message(
            "Only the person who ran the command can use these buttons.", ephemeral=True
        )
        return False

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item) -> None:
        await answer_error(interaction, error)


class FacePicker(InvokerView):
    """Numbered buttons, one per face, and "Cancel"; `choice` holds the face number (or `None`)."""

    def __init__(self, invoker_id: int, faces: int, timeout: float | None = None) -> None:
        super().__init__(invoker_id, timeout)
        self.choice: int | None = None
        for number in range(1, min(faces, MAX_PICKABLE) + 1):
            button = discord.ui.Button(label=str(number), style=discord.ButtonStyle.primary, row=(number - 1) // 5)
            button.callback = self._chooser(number)
            self.add_item(button)
        cancel = discord.ui.Button(label="Cancel", style=discord.ButtonStyle.secondary, row=4)
        cancel.callback = self._chooser(None)
        self.add_item(cancel)

    def _chooser(self, number: int | None):
        async def choose(interaction: discord.Interaction) -> None:
            self.choice = number
            self.stop()
            await interaction.response.edit_message(view=None)

        return choose


class Pager(InvokerView):
    """Previous / next buttons over a list of embeds."""

    def __init__(self, invoker_id: int, pages: list[discord.Embed], timeout: float = 300.0) -> None:
        super().__init__(invoker_id, timeout)
        self.pages = pages
        self.index = 0
        self._update()

    def _update(self) -> None:
        self.previous.disabled = self.index == 0
        self.next.disabled = self.index >= len(self.pages) - 1

    async def _show(self, interaction: discord.Interaction, step: int) -> None:
        self.index = max(0, min(len(self.pages) - 1, self.index + step))
        self._update()
        await interaction.response.edit_message(embed=self.pages[self.index], view=self)

    @discord.ui.button(label="◀ Previous", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._show(interaction, -1)

    @discord.ui.button(label="Next ▶", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._show(interaction, +1)
