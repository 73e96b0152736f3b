"""The fixture project's entry point, as a generated project's: `python -m fixture_project.train`."""

from estimator_inmemory import Project

project = Project(__package__)
train, main, cluster, report = project.train, project.main, project.cluster, project.report

if __name__ == "__main__":
    main()
