"""Action runners: subscribe to the bus and act (console, webhook/chat bots, commands).

Each runner acknowledges an activation only after its action succeeded;
`format` turns an activation into the text they send.

May import: `yuqing.bus` (the client), `yuqing.playbooks`, `yuqing.proto`,
`yuqing.core`. Never the flows or sinks.
"""
