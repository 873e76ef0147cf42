"""Phone calls: Twilio Media Streams (protocol, μ-law audio, the bridge into a LiveKit room),
TwiML and request signatures, and SIP trunk provisioning (LiveKit SIP trunks and dispatch rules,
Twilio Elastic SIP trunks).

It imports core (and livekit's SDKs); the API and the agents use it, never the other way.
"""
