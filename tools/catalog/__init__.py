"""The machine-readable catalog: products, price books, inventory and pricing rules."""

from tools.catalog.loader import CatalogError, CatalogHolder, load_catalog
from tools.catalog.models import Catalog, PriceBook, Product

__all__ = ["Catalog", "CatalogError", "CatalogHolder", "PriceBook", "Product", "load_catalog"]
