"""Scaffold: what gripctl writes into a platform repository — new applications from a copier template
(and template updates of existing ones), and the CI workflows (`workflows`, for `gripctl ci init`).

`apps.create_app` renders an app (chart, encrypted secrets release, per-environment values, docs page)
and adds its gripctl.yaml entry (`config_edit`); `apps.update_app` runs `copier update`. The default
template ships as package data under `template/` (`template.default_template`).
"""
