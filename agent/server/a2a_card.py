"""The Agent Card served at `/.well-known/agent-card.json` (A2A 1.0, a2a-sdk protobuf types).

It declares what a procurement agent needs to start negotiating:

- the JSON-RPC interface (the server's base URL) and the HTTP+JSON one (`/a2a/rest`);
- skills: catalog search, quote/RFQ, negotiate, accept;
- the `bearer` security scheme (the same API keys as the REST API) and the requirement to use it;
- capabilities: streaming and push notifications;
- an extension entry for dealdesk's negotiation messages (the data parts), with links to
  their JSON Schemas, which the server serves under `/schemas/`.
"""

from __future__ import annotations

from google.protobuf import struct_pb2

from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentExtension,
    AgentInterface,
    AgentProvider,
    AgentSkill,
    HTTPAuthSecurityScheme,
    SecurityRequirement,
    SecurityScheme,
    StringList,
)
from a2a.utils.constants import PROTOCOL_VERSION_1_0, TransportProtocol

from agent.contract import BUYER_TYPES, CONTRACT_VERSION, SELLER_TYPES, ErrorCode
from agent.server.context import ServerSettings

# The extension's identifier (a URI that names it; the schemas it links to are served by this server).
NEGOTIATION_EXTENSION_URI = "https://dealdesk.dev/a2a/extensions/negotiation/v1"
SECURITY_SCHEME = "bearer"
DATA_MEDIA_TYPE = "application/json"
TEXT_MEDIA_TYPE = "text/plain"
JSONRPC_PATH = "/"  # the interface URL is the base URL itself
JSONRPC_ALIAS = "/a2a"  # also accepted (what the REST API's docs mention)
REST_PREFIX = "/a2a/rest"  # the HTTP+JSON binding


def schema_urls(settings: ServerSettings) -> dict[str, str]:
    base = settings.base_url
    return {"buyer": f"{base}/schemas/buyer-message.schema.json",
            "seller": f"{base}/schemas/seller-message.schema.json"}


def _struct(value: dict) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(value)
    return s


def _skill(id_: str, name: str, description: str, tags: list[str], examples: list[str]) -> AgentSkill:
    return AgentSkill(id=id_, name=name, description=description, tags=tags, examples=examples,
                      input_modes=[DATA_MEDIA_TYPE, TEXT_MEDIA_TYPE], output_modes=[DATA_MEDIA_TYPE, TEXT_MEDIA_TYPE],
                      security_requirements=[SecurityRequirement(schemes={SECURITY_SCHEME: StringList()})])


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("dealdesk")
    except Exception:  # noqa: BLE001 - running from a source tree without metadata
        return "0.0.0"


def build_agent_card(settings: ServerSettings, *, version: str | None = None) -> AgentCard:
    version = version or _package_version()
    base = settings.base_url
    schemas = schema_urls(settings)
    skills = [
        _skill("catalog_search", "Catalog search",
               "Search the catalog by text, SKU, category or spec filters. Send a data part "
               '{"type": "catalog_query", "query"?, "sku"?, "category"?, "specs"?, "limit"?}; the answer is '
               '{"type": "catalog_results", "products": [Schema.org Product JSON-LD]} with live availability.',
               ["catalog", "search", "products", "json-ld"],
               ['{"type": "catalog_query", "query": "deep groove ball bearing", "limit": 5}',
                "Which 20 mm bore bearings do you stock?"]),
        _skill("quote", "Quote / RFQ",
               'Ask for a priced proposal: {"type": "rfq", "items": [{"sku", "quantity"}], "currency"?, '
               '"payment_terms"?, "delivery_date"?}. The answer is a proposal (id, version, lines, total, '
               "validity, terms, priced alternatives such as the next volume tier); stock is held for its "
               "validity. The task then waits for your next message (INPUT_REQUIRED).",
               ["quote", "rfq", "pricing", "proposal"],
               ['{"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "500"}]}',
                "Please quote 500 x BRG-6204."]),
        _skill("negotiate", "Negotiate",
               'Counter a proposal: {"type": "counter_offer", "proposal_id", "version", "items": [{"sku", '
               '"quantity", "unit_price"}], "payment_terms"?}, or walk away: {"type": "reject", "proposal_id", '
               '"reason"?}. The seller answers with a new proposal version (which may be pending a human '
               "approval; the decision arrives on the same task), or closes the negotiation after its "
               "maximum rounds (COMPLETED with a `closed` artifact).",
               ["negotiate", "counter-offer", "haggle"],
               ['{"type": "counter_offer", "proposal_id": "P-1", "version": 1, "items": '
                '[{"sku": "BRG-6204", "quantity": "500", "unit_price": "2.60"}]}',
                "Could you do 2.60 per unit?"]),
        _skill("questions", "Product and terms questions",
               'Ask in plain text, or with a data part {"type": "question", "topic", "skus"?, "spec"?, '
               '"quantity"?} (topic: spec, lead_time, compatibility, availability, terms, price, order_limits, '
               "status): a product's specs or what goes with it, the lead time for a quantity, its volume "
               "breaks (your price at each tier, as a proposal would open), its order limits (MOQ, the most one "
               "order may have), the payment terms and the terms every proposal states (warranty, liability, "
               "governing law), where your request stands. Answered from the catalog and the policy, never "
               "with a new proposal; a question about the price while your proposal stands restates it.",
               ["questions", "specs", "lead-time", "volume-pricing", "moq", "terms", "status"],
               ['{"type": "question", "topic": "price", "skus": ["BRG-6204"], "quantity": "1000"}',
                "What are your price breaks on BRG-6204?", "What is the MOQ for BRG-GRS-EP2?",
                "What is the lead time for 500 x BRG-6205?", "What warranty do you give?"]),
        _skill("accept", "Accept",
               'Accept a proposal version: {"type": "accept", "proposal_id", "version"}. The stock is '
               "allocated and the deal committed before the answer; the task is COMPLETED with a `deal` "
               "artifact. A repeated messageId is answered once.",
               ["accept", "deal", "order"],
               ['{"type": "accept", "proposal_id": "P-1", "version": 3}']),
    ]
    extension = AgentExtension(
        uri=NEGOTIATION_EXTENSION_URI,
        description=f"dealdesk negotiation messages: each data part carries a `type` (buyer: {', '.join(BUYER_TYPES)}; "
                    f"seller: {', '.join(SELLER_TYPES)}). "
                    "Money and quantities travel as decimal strings (numbers are accepted on input, never "
                    "sent). Plain text parts are understood too; when a message has both, the data part wins.",
        required=False,
        params=_struct({
            "contractVersion": CONTRACT_VERSION,
            "buyerMessageSchema": schemas["buyer"],
            "sellerMessageSchema": schemas["seller"],
            "buyerTypes": BUYER_TYPES,
            "sellerTypes": SELLER_TYPES,
            "errorCodes": list(ErrorCode.__args__),  # type: ignore[attr-defined]
            "artifacts": {"proposal": "the current proposal (replaced by each new version)",
                          "deal": "the committed deal", "closed": "why the negotiation closed"},
            "taskStates": {"INPUT_REQUIRED": "a proposal (or an answer) awaits your next message; also after the "
                                             "maximum rounds while the last offer stands (closed.standing): accept it",
                           "COMPLETED": "a deal, your rejection, or the seller closing",
                           "REJECTED": "the seller does not sell to this buyer (region not served, key not allowed)",
                           "CANCELED": "you cancelled the task; its holds are released",
                           "FAILED": "an internal error"},
        }),
    )
    return AgentCard(
        name="dealdesk seller",
        description="The vendor's autonomous deal desk: search the catalog, get quotes, negotiate price and terms "
                    "within the vendor's pricing policy, and close deals. One negotiation is one task; continue it "
                    "with the same taskId and contextId.",
        version=version,
        provider=AgentProvider(organization="dealdesk", url=base),
        documentation_url=f"{base}/docs",
        supported_interfaces=[
            AgentInterface(url=base + (JSONRPC_PATH if JSONRPC_PATH != "/" else ""),
                           protocol_binding=TransportProtocol.JSONRPC.value, protocol_version=PROTOCOL_VERSION_1_0),
            AgentInterface(url=f"{base}{REST_PREFIX}", protocol_binding=TransportProtocol.HTTP_JSON.value,
                           protocol_version=PROTOCOL_VERSION_1_0),
        ],
        capabilities=AgentCapabilities(streaming=True, push_notifications=True, extended_agent_card=False,
                                       extensions=[extension]),
        security_schemes={SECURITY_SCHEME: SecurityScheme(http_auth_security_scheme=HTTPAuthSecurityScheme(
            scheme="Bearer", bearer_format="dealdesk API key (dd_buyer_...)",
            description="A buyer API key in `Authorization: Bearer <key>`, bound to one buyer organisation with "
                        "its region and segment. The same keys work for the REST API."))},
        security_requirements=[SecurityRequirement(schemes={SECURITY_SCHEME: StringList()})],
        default_input_modes=[DATA_MEDIA_TYPE, TEXT_MEDIA_TYPE],
        default_output_modes=[DATA_MEDIA_TYPE, TEXT_MEDIA_TYPE],
        skills=skills,
    )
