"""Example user models: ``neural-ode-bench run --workload examples.my_model:make_problem``."""
