"""The runtime suites' own app: the smallest app on azu_ws that shows each of its features.

It is laid out as a generated app is (config, messages, channels, api, app, main,
`python -m tests.runtime.testapp serve`), so that the suites drive the runtime as
an app does, without depending on the reference app a bake ships.
"""
