"""The sections of a run page, one module each; every module registers its :class:`~interp.dashboard.registry.Section`.

:func:`interp.dashboard.registry.sections` imports every module here, so a new section is one new
module (see CONTRIBUTING.md, "How to add a dashboard section"). Nothing is imported here.
"""
