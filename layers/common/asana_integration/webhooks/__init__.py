"""Asana webhooks, receiving half (issue 10): what arrives at ``/asana/webhook/<prefix>`` and what becomes of it.

- ``receiver``: the webhook function's decisions: a handshake accepted only by an armed prefix, a delivery only with
  its webhook's signature, a heartbeat recorded; valid events handed to the queue. Kept to the standard library and
  the stores, so the function starts about as fast as ``import boto3`` and answers Asana in milliseconds.
- ``queue``: the events queue between the function and the consumer (messages split to fit SQS).
- ``processing``: the consumer's work for one event: re-fetch the resource with the organization's identity and apply
  its current state to the mirror.

Which Asana identity acts for an organization is decided above this package (settings' access rules) and handed in.
"""
