"""The user service: accounts, login (a JWT) and each user's shelf of books."""
