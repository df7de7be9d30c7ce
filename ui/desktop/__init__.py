"""The desktop app (PySide6). The only package allowed to import Qt.

Layout: `main.run_gui` starts the app; `login` and `lock` guard the session; `mainwindow`
hosts pages from a registry (`pages.PAGES`); all service calls run through one
`worker.Worker` and all user-facing notices go through one `messages.MessageBridge`.
"""
