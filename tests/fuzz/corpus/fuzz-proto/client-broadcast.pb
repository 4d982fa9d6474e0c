	:
maintenance at noonb-1