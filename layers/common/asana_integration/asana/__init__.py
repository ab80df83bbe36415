"""Everything that talks to Asana: the REST client, the OAuth endpoints, the transport both share, and the typed
errors Asana's answers become. Nothing here stores anything."""
