"""The Bytewax dataflow of Yuqing Radar (installed as `yuqing.dataflows`).

`radar` reads top to bottom as the data-flow diagram; each step's logic is a
plain function or small class in `steps`, `warning` and `linkage`, or in the
model packages. `launcher` opens every destination and runs the flow.

May import: the models, `yuqing.playbooks`, `yuqing.bus`, `yuqing.sinks`,
`yuqing.evaluation.demo` (the demo input), `yuqing.core`, Bytewax. Never
`yuqing.commands` or `yuqing.cli`.
"""
