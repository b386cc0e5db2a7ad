from __future__ import annotations

from django.apps import AppConfig


class MappingConfig(AppConfig):
    name = "mapping"
    verbose_name = "Meter mapping"

    def ready(self) -> None:
        """The meter list reads what our mapping's inline flags need in its own query, and shows
        our mapping of each meter in a cell of its row."""
        # Imported here, not at the top: they import models, which do not exist before the app
        # registry is ready.
        from mapping.flags import annotate_meters
        from mapping.templatetags.mapping_tags import list_cell
        from meters.extensions import register_list_annotation, register_list_cell

        register_list_annotation(annotate_meters)
        register_list_cell(list_cell)
