"""The `diagrambot` command line: each package registers its own subcommands."""
