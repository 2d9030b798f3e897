"""``floral show-config``: version, compiler, OpenMP and threads."""



# --- floral show-config ---------------------------------------------------------------

def _add_show_config(sub):
    p = sub.add_parser("show-config", help="version, compiler, OpenMP and threads")
    p.set_defaults(func=_cmd_show_config)


def _cmd_show_config(args):
    from .._config import show_config

    show_config()
    return 0
