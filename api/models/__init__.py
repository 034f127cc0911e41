from api.models.tokens import ApiToken, Scope

__all__ = ["ApiToken", "Scope"]
