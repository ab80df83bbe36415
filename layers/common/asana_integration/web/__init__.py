"""HTTP plumbing shared by the API functions: the resolver, the error responses, the caller and tenant lookups."""
