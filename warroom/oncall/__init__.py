"""People, teams and schedules: who a role pages at an instant.

    models      the `WARROOM_ONCALL` file as validated data, overrides, resolutions
    ical        an iCalendar feed (PagerDuty's or Opsgenie's export) as shifts
    backstage   service → owning team from Backstage `catalog-info.yaml`
    schedule    who a schedule has on duty at an instant (layers, restrictions, feeds)
    directory   the loaded config with its feeds and ownership: what resolution reads
    resolve     a role of a team at an instant → a person, or a recorded gap and the next level
    coverage    every gap in the next N days (`warroom oncall check`)
    load        reading the file, its feeds and catalogs (the only module here that does I/O)

Everything but `load` is pure: the same inputs give the same person, so a resolution recorded
in a workflow's history is what a test or a backtest computes again.
"""
