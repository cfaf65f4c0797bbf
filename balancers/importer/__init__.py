"""Adopt an existing front-end: import a hand-written Apache config (the seed how-to's, 2.2 or 2.4).

    tokenizer.py  Apache's own syntax -> Directive/Section nodes with file and line (pure)
    reader.py     main file + Include/IncludeOptional over a ConfigSource (a directory, or a
                  {relative path: bytes} mapping such as an SSH read_tree) -> ConfigTree (pure)
    recognise/    ConfigTree -> Recognition: Zope servers, balancers, members, sites, and every other
                  directive as translated / ignored / unrecognised, plus problems (pure; one module per job)
    plan.py       Recognition + database -> ImportPlan: create or match, conflicts, validation (reads only)
    service.py    import_preview(source) -> ImportPlan; import_apply(plan, *, actor) -> ImportResult

Doors: manage.py import_apache --from DIR [--apply]; phase 2 adds --frontend NAME (SSH) and a page.
"""
