"""Train a model of model.py on a dataset of data.py, evaluating it in memory while it trains.

    {{ cookiecutter.project_slug }}-train model=custom trainer.max_steps=2000   # or: python -m {{ cookiecutter.package_name }}.train
    {{ cookiecutter.project_slug }}-cluster --workers 2 --ps 1                  # a parameter-server cluster here
    {{ cookiecutter.project_slug }}-report outputs/2024-01-01/12-00-00          # compare runs

The work is estimator_inmemory's: `train(cfg, run_dir)` trains and returns the best
monitored value and the last evaluation; `main` is its Hydra entry point.
"""

from estimator_inmemory import Project

project = Project(__package__)  # models: model.MODELS, datasets: data.DATASETS, configs: conf/
train, main, cluster, report = project.train, project.main, project.cluster, project.report

if __name__ == "__main__":
    main()
