"""The shared web toolkit every app's pages use (the bottom floor, under the domain apps).

`listing` (sorting and capped pagination), `timefmt` (market time zones), `csvexport`
(formula-safe, streamed CSV), `ical` (iCalendar lines), `urgency` (countdowns), `mailto`
(safe mailto: links) and `history` (how a changed value is kept in an audit trail). Nothing
here imports a domain app or the top floor (see docs/architecture.md and [tool.importlinter]).
"""
