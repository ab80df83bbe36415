"""Which SecureDB user each mirrored Asana user is: an admin's manual mapping, else a personal connection, else the
email the SecureDB user signed in with."""
