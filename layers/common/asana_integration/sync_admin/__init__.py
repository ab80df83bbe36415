"""What an admin does with the data sync: start and watch runs, import projects and stop importing them, and read
the mirror. The HTTP side of the sync engine in ``sync/``."""
