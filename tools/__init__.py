"""What maintains this repository (reports, records, notebook cleaning); not part of the installed package."""
