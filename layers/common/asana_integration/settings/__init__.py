"""The organization-settings domain: save and verify the Asana app credentials (``service``), the API's JSON contract
(``models``) and which Asana identity acts for an organization (``access``)."""
