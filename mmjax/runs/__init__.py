"""Training runs: the `mmjax train` and `mmjax sweep` commands and the run directory they write and others read.

Orchestration sits downstream of the learner (`mmjax.ppo`) and the policy exporter (`mmjax.policy`), so the
learner never imports the exporter: ppo -> policy -> runs -> evaluation."""
