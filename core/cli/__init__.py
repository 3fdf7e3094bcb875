"""The command line: `exitlens` and its sub-commands (main), recording (record), certification (certify).

Entry points only: nothing in core imports this package."""
