"""Everything that talks to Asana: the REST client, the OAuth endpoints, and the HTTP transport both share."""
