"""Adopt an existing front-end: import a hand-written Apache config (the seed how-to's, 2.2 or 2.4).

    tokenizer.py  Apache's own syntax -> Directive/Section nodes with file and line (pure)
    reader.py     main file + Include/IncludeOptional over a ConfigSource (a directory, or a
                  {relative path: bytes} mapping such as an SSH read_tree) -> ConfigTree (pure)
    recognise/    ConfigTree -> Recognition: Zope servers, balancers, members, sites, and every other
                  directive as translated / ignored / unrecognised, plus problems (pure; one module per job)
    plan.py       Recognition + database -> ImportPlan: create or match, conflicts, validation (reads only)
    remote.py     a registered front-end's tree over its deploy transport (listing, symlinks, DUMP_INCLUDES)
    archive.py    an uploaded .tar.gz / .zip -> MappingSource (paths escaping the root and links refused)
    throwaway.py  the old config adapted for a loopback Apache; the plan as the renderer's snapshot (pure)
    equivalence.py  both in throwaway Apaches in front of recording backends, the same requests, compared
    service.py    import_preview[_frontend|_archive] -> ImportPlan; import_check_equivalence; import_apply

Doors: manage.py import_apache (--from DIR | --frontend NAME) [--check-equivalence] [--apply]; the
operators' page balancers/views/imports.py.
"""
