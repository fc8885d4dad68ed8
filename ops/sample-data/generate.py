#!/usr/bin/env python3
"""Deterministic synthetic sample data for Sightline.

Generates what the agencies of one local authority (Brent, DfE LA code 304) would submit to the
gateway: three school MIS exports (enrolment and attendance CSV, exclusions NDJSON), GP
registrations, police notifications, housing tenancies (CSV) and LA registers (and two of those in
the forms other systems write them: the first school's roll as a DfE Common Transfer File, the GP
registrations as FHIR R4 Patient resources), together with a
ground truth that maps every emitted record to the synthetic child it describes, so that linkage
precision and recall can be measured. Faults are injected the way real extracts have them (name
typos, invalid check digits, records without a strong identifier, children who moved, rows the
gateway must reject); every faulty record is listed in faults.csv. The harder faults that
probabilistic linkage must survive (issue 10: typos, short forms and other spellings of given names
from name_variants.json, day and month swapped, part of a double-barrelled name, no given name,
old addresses after a move, twins, addresses and UPRNs written differently) come from a second
Random seeded from the same seed. expected-missing-education.csv is what the missing-education
report must list (MANIFEST.md defines it).

Every child, name, NHS number and UPN here is invented. NHS numbers all start with 9, the range
NHS England uses for test and synthetic patients; none is issued to a real person.

Standard library only; one random.Random(seed) drives everything and the clock is never read, so
the output is byte-identical across runs for the same arguments. (GP carers registers, the optional
`youngCarer` of a GP registration, draw from a second Random seeded from the same seed, so adding
them changed no other byte.) Rows are streamed to their files as each family is generated, so
1,000,000 children need little more memory than the sets that keep NHS numbers and UPNs unique.

    python3 ops/sample-data/generate.py                         # 2,000 children into this folder
    python3 ops/sample-data/generate.py --children 100000 --out /tmp/sightline-100k

Usable as a module too: `generate(children=..., out_dir=..., today=datetime.date(...))` returns
the statistics that MANIFEST.md reports.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import datetime as dt
import json
import os
import sys
import unicodedata
from random import Random
from xml.sax.saxutils import escape as xml_escape

SEED = 20261129
DEFAULT_CHILDREN = 2000
DEFAULT_TODAY = "2026-11-20"
HERE = os.path.dirname(os.path.abspath(__file__))

# --------------------------------------------------------------------------------------------
# The synthetic world
# --------------------------------------------------------------------------------------------

LA_CODE = "304"
IN_AREA_DISTRICTS = ["HA0", "HA1", "HA3", "HA8", "HA9", "NW2", "NW6", "NW9", "NW10", "W9", "W10"]
OUT_OF_AREA_DISTRICTS = ["SE1", "E8", "N17", "M1", "B12", "LS6", "HA2", "UB6", "NW3", "W3"]
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"

# URN -> DfE establishment number (the 4 digits after the LA code) and phase.
SCHOOLS = {
    "100001": {"estab": "2001", "phase": "primary"},
    "100002": {"estab": "4002", "phase": "all-through"},
    "100003": {"estab": "4003", "phase": "secondary"},
}
# The school whose roll is also written as a CTF, and the names a CTF header carries.
CTF_SCHOOL = "100001"
SCHOOL_NAMES = {"100001": "Brent Example Primary School", "100002": "Brent Example Academy",
                "100003": "Brent Example High School"}
PRIMARY_SCHOOLS = (("100001", 0.55), ("100002", 0.45))
SECONDARY_SCHOOLS = (("100002", 0.40), ("100003", 0.60))
# Other LAs a UPN may have been issued by (pupils who started school elsewhere).
OTHER_LA_CODES = ["202", "207", "213", "301", "307", "310", "312", "313", "316", "330", "812"]

PRACTICES = (("Y12345", 0.45), ("Y23456", 0.30), ("E84001", 0.25))

OFF_ROLL_REASONS = (("other-school", 0.35), ("moved-away", 0.25), ("ehe", 0.15), ("cme", 0.10),
                    ("other", 0.10), ("permanent-exclusion", 0.05))
OFF_ROLL_TEXT = {
    "other-school": "Moved to another school",
    "ehe": "Elective home education",
    "moved-away": "Moved away",
    "cme": "Missing education",
    "permanent-exclusion": "Permanently excluded",
    "other": "Other",
}
SEN_STATUSES = (("N", 0.82), ("K", 0.13), ("E", 0.05))          # none, support (K), EHCP (E)
EXCLUSION_CATEGORIES = (("suspension", 0.78), ("internal", 0.12), ("managed-move", 0.10))
POLICE_CATEGORIES = (("domestic-abuse", 0.50), ("concern", 0.30), ("missing-episode", 0.20))

# Rates. The "p_" values are per child, per family or per record as named; MANIFEST.md reports
# what a run actually produced.
P_OUT_OF_AREA_FAMILY = 0.068     # plus movers who left: about 8% of children live out of area
P_MOVED_FAMILY = 0.03            # school still holds the old postcode
P_MOVED_OUT = 0.40               # of movers, share whose new address is out of area
P_ON_ROLL_IN_AREA = 0.88
P_ON_ROLL_OUT_OF_AREA = 0.30
P_MID_YEAR_JOINER = 0.15
P_TEMPORARY_UPN = 0.03           # of mid-year joiners (about 0.4% of UPNs)
P_UPN_OTHER_LA = 0.15
P_OFF_ROLL = 0.08
P_REAPPEAR = 0.40                # of "other-school" leavers: a new enrolment at another of the three
P_GP_IN_AREA = 0.97
P_GP_OUT_OF_AREA = 0.30
P_GP_DEREGISTERED = 0.05
P_GP_REREGISTERED = 0.50
P_TENANCY_FAMILY = 0.25
P_POLICE_CHILD = 0.03
P_EXCLUDED = 0.02
P_YOUNG_CARER = 0.04
P_GP_YOUNG_CARER = 0.60          # of young carers with a GP: on the practice's carers register
P_GP_ONLY_YOUNG_CARER = 0.01     # of children whose school records them as not a young carer
P_FSM = 0.24
P_PART_TIME = 0.01
P_ABSENCE_SEVERE = 0.015         # part-time timetables add about 0.5%
P_ABSENCE_PERSISTENT = 0.125
P_CIN = 0.010
P_CP = 0.0035
P_EHE_NOT_ON_ROLL = 0.08         # of school-age children in area with no enrolment
P_CNIS_NOT_ON_ROLL = 0.04
P_EHE_AFTER_OFF_ROLL = 0.90      # of children off-rolled for EHE

# Faults.
P_NAME_FAULT = 0.03              # per record (per enrolment for school files: the MIS holds it)
P_NHS_INVALID = 0.01             # per GP record
P_UPN_INVALID = 0.01             # per enrolment (carried by its attendance and exclusion records)
P_NO_STRONG_ID = 0.05            # per housing / police record
P_REJECT = 0.005                 # per record: missing required field or impossible date

# Harder faults for probabilistic linkage (issue 10). They draw from a second Random seeded from the
# same seed ("<seed>/harder-linkage"), so the world the first stream makes (who exists, who is on
# roll, who is registered where) stays as it was wherever the new faults do not change it.
# Per record (per enrolment for school files: the MIS holds the value), by source.
P_GIVEN_TYPO = {"school": 0.025, "gp": 0.02, "police": 0.05, "housing": 0.04, "la": 0.02}
P_FAMILY_TYPO = {"school": 0.05, "gp": 0.025, "police": 0.05, "housing": 0.04, "la": 0.02}
# Of records whose child's given name has short forms / other spellings in name_variants.json.
P_SHORT_FORM = {"school": 0.03, "gp": 0.12, "police": 0.30, "housing": 0.12, "la": 0.06}
P_SPELLING = {"school": 0.04, "gp": 0.12, "police": 0.18, "housing": 0.12, "la": 0.06}
# Of records whose date of birth has day and month both 12 or under (and different).
P_DOB_SWAP = {"school": 0.03, "gp": 0.01, "police": 0.06, "housing": 0.05, "la": 0.03}
# Of records of a child with a double-barrelled family name / a given name in two parts.
P_FAMILY_PART = {"school": 0.08, "gp": 0.30, "police": 0.30, "housing": 0.20, "la": 0.15}
P_GIVEN_PART = {"school": 0.05, "gp": 0.25, "police": 0.30, "housing": 0.20, "la": 0.10}
P_NO_GIVEN_NAME = {"police": 0.06, "housing": 0.04}
P_POLICE_UPPER_FAMILY = 0.50     # police systems hold SURNAME in capitals
P_GP_ASCII = 0.40                # of GP records of a name with diacritics: the spine holds it plain
P_SCHOOL_NHS = 0.30              # per enrolment: the MIS holds the pupil's NHS number
# Address (first line) and UPRN carried, per record.
P_ADDRESS = {"school": 0.40, "gp": 0.90, "police": 0.60, "housing": 1.0, "la": 0.75}
P_UPRN = {"school": 0.10, "gp": 0.05, "police": 0.15, "housing": 0.95, "la": 0.85}
P_FLAT = 0.45                    # of families: the home is a flat ("Flat 2, 14 Harrow Road")
P_ADDR_ABBREV = 0.30             # per address written by a source other than housing
P_ADDR_NO_FLAT = 0.20            # of flat addresses written by a source other than housing
P_ADDR_FLAT_FORMAT = 0.10
P_ADDR_UPPER = 0.10
P_ADDR_NUMBER_TYPO = 0.01
P_UPRN_TYPO = {"school": 0.02, "police": 0.01}     # keyed in by hand; housing and LA systems hold it
# Moves within the LA: which agencies still hold the old address.
P_MOVED_GP_OLD = 0.50            # per GP record (a practice slow to update)
P_MOVED_LA_OLD = 0.15
P_EXTRA_TWIN = 0.012             # per child after the first in a family, on top of the first stream's 2%
P_TWIN_NOT_ON_ROLL = 0.35        # of school-age twins in area whose twin is on roll
P_NAME_FROM_VARIANTS = 0.30      # of children: the given name is one with short forms or spellings

# Given names with short forms or several spellings (all in name_variants.json), for the children
# whose name comes from the second stream.
EXTRA_GIVEN_NAMES = [
    "Alexander", "Alexandra", "William", "Elizabeth", "Katherine", "Catherine", "Christopher",
    "Jonathan", "Benjamin", "Samuel", "Joseph", "Thomas", "James", "Daniel", "Matthew", "Nicholas",
    "Rebecca", "Charlotte", "Victoria", "Jessica", "Abigail", "Michael", "Robert", "Edward",
    "Frederick", "Alfred", "Henry", "Isabelle", "Isabel", "Sophie", "Sophia", "Nathaniel",
    "Abdullah", "Abdullahi", "Abdirahman", "Ayesha", "Yousef", "Fatimah", "Zaynab", "Jaden",
    "Eleanor", "Emily", "Matilda", "Madeleine", "Natalia", "Theodore", "Maximilian", "Sebastian",
    "Zachary", "Joshua", "Elijah", "Isaac", "Patrick", "Francesca", "Gabriella", "Jacob",
    "Oluwatobi", "Oluwafemi", "Babatunde", "Folasade", "Chukwuemeka", "Ayodele", "Damilola",
    "Aleksandra", "Wojciech", "Magdalena", "Agnieszka", "Bartosz", "Daniela", "Andreea",
    "Priyanka", "Siddharth", "Abhishek", "Krishna", "Simranjit", "Zakariya", "Sulaiman", "Mustafa",
    "Khadija", "Ruqayyah", "Samira", "Mohammad", "Mohamed", "Yasmin", "Layla", "Hussain",
    "Pádraig", "Caoimhe", "Kieran", "Alistair", "Kenneth", "Owain", "Rhys", "Megan", "Bethany",
    "Jermaine", "Keisha", "Makayla", "Malachi", "Rosa", "Theodora", "Margaret", "Jennifer",
]

# Streets for addresses (first line). Brent's are real street names (public facts, not personal
# data); out-of-area addresses use common English street names.
IN_AREA_STREETS = [
    "Harrow Road", "Kilburn High Road", "Willesden Lane", "Ealing Road", "Church Road", "High Street",
    "Dudden Hill Lane", "Chamberlayne Road", "Park Avenue", "Mayo Road", "Neasden Lane",
    "Forty Avenue", "Wembley Hill Road", "Preston Road", "Kenton Road", "Craven Park Road",
    "St Mary's Road", "Carlton Vale", "Brondesbury Park", "Salusbury Road", "Chevening Road",
    "Harlesden Road", "Station Road", "Tubbs Road", "Manor Park Road", "Pound Lane", "Dollis Hill Lane",
    "Burnt Oak Broadway", "Stag Lane", "Kingsbury Road", "Fryent Way", "Wembley Park Drive",
    "Chalkhill Road", "Oakington Manor Drive", "Ladysmith Avenue", "Alperton Lane", "Bridgewater Road",
    "Mount Pleasant", "Wrottesley Road", "Furness Road", "Tavistock Road", "Keslake Road",
    "Windermere Avenue", "Cavendish Road", "Goldsmith Lane", "Queens Walk", "Elms Lane",
    "Barn Rise", "Kings Drive", "Crest Gardens", "Ashford Close", "Priory Crescent", "Meadow Gardens",
    "Grove Place", "Brook Court", "Cedar Terrace", "Rose Square", "Orchard Grove",
]
OUT_OF_AREA_STREETS = [
    "Victoria Road", "Albert Street", "Queen Street", "Park Road", "London Road", "Mill Lane",
    "Green Lane", "School Lane", "The Avenue", "Springfield Road", "Manor Road", "Grange Road",
    "Stanley Road", "Richmond Road", "York Road", "North Street", "Church Lane", "Elm Grove",
    "Oak Close", "Beech Drive", "Kingsway Crescent", "Market Square", "Chapel Street",
]
STREET_TYPES = {"Road": "Rd", "Street": "St", "Avenue": "Ave", "Lane": "Ln", "Gardens": "Gdns",
                "Close": "Cl", "Crescent": "Cres", "Drive": "Dr", "Place": "Pl", "Square": "Sq",
                "Court": "Ct", "Terrace": "Tce", "Grove": "Gr", "Way": "Wy", "Broadway": "Bdwy"}

# QWERTY neighbours, for keyboard-adjacent substitutions and insertions.
_KEYBOARD_ROWS = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]


def _keyboard_neighbours() -> dict[str, str]:
    pos = {c: (r, i) for r, row in enumerate(_KEYBOARD_ROWS) for i, c in enumerate(row)}
    out = {}
    for c, (r, i) in pos.items():
        near = []
        for d, e in pos.items():
            rr_, ii = e
            if d != c and abs(rr_ - r) <= 1 and abs(ii - i + (0.5 * (rr_ - r))) <= 1:
                near.append(d)
        out[c] = "".join(sorted(near))
    return out


KEYBOARD_NEAR = _keyboard_neighbours()


def normalise_name(name: str) -> str:
    """NameNormaliser.normalise (Sources/SightlineCore/Identifiers) in Python."""
    return "".join(c for c in unicodedata.normalize("NFKD", name)
                   if not unicodedata.combining(c) and c.isalpha()).lower()


def load_name_variants(path: str = os.path.join(HERE, "name_variants.json")) -> dict[str, tuple[list[str], list[str]]]:
    """For each normalised given name that is a spelling in some group: the other spellings and the
    short forms of its groups (display forms), as a source might write them instead."""
    with open(path, encoding="utf-8") as f:
        groups = json.load(f)["groups"]
    out: dict[str, tuple[list[str], list[str]]] = {}
    for g in groups:
        for name in g["spellings"]:
            key = normalise_name(name)
            spellings, shorts = out.setdefault(key, ([], []))
            for other in g["spellings"]:
                if normalise_name(other) != key and other not in spellings:
                    spellings.append(other)
            for short in g["short"]:
                if normalise_name(short) != key and short not in shorts:
                    shorts.append(short)
    return out


GIVEN_NAMES = [
    "Amara", "Oliver", "Olivia", "Muhammad", "Mohammed", "Aisha", "Zoë", "Renée", "Chloé", "José",
    "Inês", "João", "Siobhán", "Seán", "Niamh", "Aoife", "Noah", "Amelia", "Isla", "Leo", "Arjun",
    "Priya", "Aarav", "Ananya", "Fatima", "Yusuf", "Maryam", "Ibrahim", "Omar", "Hana", "Layla",
    "Zainab", "Chidi", "Chiamaka", "Tobi", "Kofi", "Ama", "Kwame", "Abena", "Emeka", "Ngozi",
    "Temitope", "Oluwaseun", "Ayo", "Jayden", "Tyrone", "Kai", "Malik", "Nia", "Imani", "Liam",
    "Jack", "Harry", "George", "Freya", "Grace", "Ella", "Mia", "Sofia", "Mateo", "Lucas",
    "Gabriel", "Ana", "Maria", "Zuzanna", "Oliwia", "Jakub", "Szymon", "Wiktoria", "Andrei",
    "Ioana", "Ștefan", "Elif", "Ayşe", "Emir", "Yasmin", "Hamza", "Bilal", "Sara", "Lena",
    "Noémie", "Anaïs", "Océane", "Ahmed", "Abdi", "Hodan", "Ayan", "Saeed", "Deniz", "Mehmet",
    "Rania", "Nour", "Jia", "Wei", "Minh", "Linh", "Dev", "Ishaan", "Kiran", "Simran", "Harpreet",
    "Rosa", "Eva", "Daniela", "Camila", "Santiago", "Valentina", "Sean", "Jamal", "Theo", "Ethan",
    "Alfie", "Poppy", "Daisy", "Evie", "Ruby", "Ava", "Isabella", "Anne-Marie", "Jean-Luc",
    "Mary Kate", "Mohamed Ali", "Zoe", "Renee", "Chloe", "Lucía", "Martín", "Sofía", "Hélène",
    "Björn", "Jürgen", "Dóra", "Ciarán", "Éabha", "Rónán", "Tomás",
]
FAMILY_NAMES = [
    "Okafor", "Adeyemi", "Mensah", "Osei", "Boateng", "Asante", "Owusu", "Okonkwo", "Eze",
    "Adebayo", "Patel", "Shah", "Mehta", "Desai", "Khan", "Ahmed", "Hussain", "Begum", "Ali",
    "Rahman", "Chowdhury", "Iqbal", "Malik", "Siddiqui", "Singh", "Kaur", "Sandhu", "Gill",
    "Nguyen", "Tran", "Chen", "Wang", "Li", "Smith", "Jones", "Williams", "Brown", "Taylor",
    "Davies", "Wilson", "Evans", "Thomas", "Johnson", "Roberts", "Walker", "Wright", "Thompson",
    "White", "Green", "Campbell", "Murphy", "O'Brien", "O'Connor", "O'Sullivan", "D'Souza",
    "De Souza", "Da Silva", "Dos Santos", "Van der Merwe", "Smith-Jones", "Okafor-Williams",
    "Hamilton-Reid", "Nowak", "Kowalski", "Wiśniewska", "Wójcik", "Lewandowski", "Kowalczyk",
    "Popescu", "Ionescu", "Popa", "Constantin", "Müller", "Gonçalves", "Pereira", "Santos",
    "Ferreira", "Núñez", "García", "Rodríguez", "Kovačević", "Çelik", "Demir", "Öztürk",
    "Mohamed", "Abdi", "Hassan", "Farah", "Warsame", "Ibrahim", "Yusuf", "Haddad", "Mansour",
    "El-Amin", "Al-Sayed", "Abu Bakr", "McCarthy", "MacDonald", "N'Diaye", "Diallo", "Traoré",
    "Kamara", "Sesay", "Bangura", "Fernandes", "Rocha", "Moreira", "St Clair", "Le Roux",
    "Ní Bhriain", "Ó Súilleabháin", "Brontë", "Renée-Smith", "Dvořák", "Hernández", "Ramírez",
]

# --------------------------------------------------------------------------------------------
# Identifiers (exactly as DOMAIN.md)
# --------------------------------------------------------------------------------------------

UPN_ALPHA = "ABCDEFGHJKLMNPQRTUVWXYZ"     # 23 letters, A=0 .. Z=22; I, O, S never used
_DIGITS = frozenset("0123456789")


def nhs_check_value(first9: str) -> int:
    """The modulus-11 check value of nine digits: 0..9, or 10 (never issued)."""
    t = 0
    for i, ch in enumerate(first9):          # weights 10..2
        t += (ord(ch) - 48) * (10 - i)
    c = 11 - t % 11
    return 0 if c == 11 else c


def nhs_valid(s: str) -> bool:
    if len(s) != 10 or not set(s) <= _DIGITS:
        return False
    c = nhs_check_value(s[:9])
    return c != 10 and c == ord(s[9]) - 48


def _upn_value(ch: str, position: int) -> int:
    if ch in _DIGITS:
        return ord(ch) - 48
    if position == 13 and ch in UPN_ALPHA:
        return UPN_ALPHA.index(ch)
    raise ValueError(f"character {ch!r} not allowed at UPN position {position}")


def upn_check_letter(body: str) -> str:
    """The check letter for the 12 characters at positions 2..13."""
    s = 0
    for p, ch in enumerate(body, start=2):
        s += p * _upn_value(ch, p)
    return UPN_ALPHA[s % 23]


def upn_valid(u: str) -> bool:
    if len(u) != 13 or u[0] not in UPN_ALPHA or not set(u[1:12]) <= _DIGITS:
        return False
    if not (u[12] in _DIGITS or u[12] in UPN_ALPHA):
        return False
    return upn_check_letter(u[1:]) == u[0]


def self_test() -> None:
    """DOMAIN.md's example vectors must validate (or not) as documented."""
    for n in ("9434765919", "6541003238", "9912003888", "9990000018"):
        assert nhs_valid(n), n
    assert nhs_check_value("999000000") == 10 and not nhs_valid("9990000000")
    for u in ("H801200001001", "B801200005001", "A950000178301", "H243278544154", "P207000016049",
              "G80120000101A", "W80120000101B"):
        assert upn_valid(u), u
    for u in ("Z801200001001", "A801200005001", "R247962919251"):
        assert not upn_valid(u), u
    # A final letter scores its index, not 0: scoring it 0 would make this one fail.
    assert upn_check_letter("80120000101B") == "W"


def strip_diacritics(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c))


def _check_names() -> None:
    # Every diacritic here decomposes under NFD, so stripping it gives plain ASCII letters; the
    # gateway's diacritic-insensitive folding then treats "Zoë" and "zoe" as the same name.
    for name in GIVEN_NAMES + FAMILY_NAMES:
        plain = strip_diacritics(name)
        assert all(c.isascii() for c in plain), name
        assert len(name) <= 100


# --------------------------------------------------------------------------------------------
# Dates (ordinals internally; strings cached)
# --------------------------------------------------------------------------------------------

_ISO: dict[int, str] = {}
_UK: dict[int, str] = {}


def iso(o: int) -> str:
    s = _ISO.get(o)
    if s is None:
        s = _ISO[o] = dt.date.fromordinal(o).isoformat()
    return s


def uk(o: int) -> str:
    s = _UK.get(o)
    if s is None:
        d = dt.date.fromordinal(o)
        s = _UK[o] = f"{d.day:02d}/{d.month:02d}/{d.year:04d}"
    return s


def is_weekday(o: int) -> bool:
    return (o - 1) % 7 < 5          # ordinal 1 (0001-01-01) is a Monday


def add_years(d: dt.date, years: int) -> dt.date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:              # 29 February
        return d.replace(year=d.year + years, day=28)


def age_on(dob: dt.date, on: dt.date) -> int:
    return on.year - dob.year - ((on.month, on.day) < (dob.month, dob.day))


def first_weekday_on_or_after(d: dt.date) -> int:
    o = d.toordinal()
    while not is_weekday(o):
        o += 1
    return o


def weekdays_between(a: int, b: int) -> int:
    """Weekdays in [a, b]."""
    if b < a:
        return 0
    n = b - a + 1
    full, rest = divmod(n, 7)
    count = full * 5
    w = (a - 1) % 7
    for i in range(rest):
        if (w + i) % 7 < 5:
            count += 1
    return count


# Half terms of the academic year starting in September of year y: (name, start, end).
def half_terms(y: int) -> list[tuple[str, dt.date, dt.date]]:
    return [
        ("autumn-1", dt.date(y, 9, 3), dt.date(y, 10, 17)),
        ("autumn-2", dt.date(y, 10, 27), dt.date(y, 12, 18)),
        ("spring-1", dt.date(y + 1, 1, 5), dt.date(y + 1, 2, 13)),
        ("spring-2", dt.date(y + 1, 2, 23), dt.date(y + 1, 3, 27)),
        ("summer-1", dt.date(y + 1, 4, 13), dt.date(y + 1, 5, 22)),
        ("summer-2", dt.date(y + 1, 6, 1), dt.date(y + 1, 7, 22)),
    ]


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

ENROLMENT_HEADER = ["Adno", "UPN", "Legal Surname", "Legal Forename", "DOB", "Postcode", "Entry Date",
                    "Leaving Date", "Reason for Leaving", "SEN Status", "Young Carer", "FSM",
                    "Part-time Timetable", "NHS Number", "Address 1", "UPRN"]
ATTENDANCE_HEADER = ["Adno", "UPN", "Surname", "Forename", "DOB", "Period Start", "Period End",
                     "Possible", "Present", "Unauthorised", "NHS Number"]
HOUSING_HEADER = ["Tenancy Ref", "Child Forename", "Child Surname", "Child DOB", "NHS Number",
                  "Postcode", "Tenancy Start", "Tenancy End", "Temporary Accommodation",
                  "Moved Out Of Area", "Address 1", "UPRN"]


# How a CTF writes the reason a pupil's name left the admission register: the ground of regulation
# 8(1) of the Pupil Registration Regulations 2006, or the MIS's own words where no ground fits.
CTF_LEAVING_REASON = {
    "other-school": "8(1)(a)",
    "ehe": "8(1)(d)",
    "moved-away": "8(1)(f)",
    "cme": "8(1)(h)",
    "permanent-exclusion": "8(1)(m)",
    "other": "Other",
}
FHIR_NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"
FHIR_ODS_CODE = "https://fhir.nhs.uk/Id/ods-organization-code"
FHIR_ADDRESS_KEY = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-AddressKey"


class Sink:
    """One output file: CSV (RFC 4180, CRLF) or NDJSON (LF), UTF-8 without BOM."""

    _encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def __init__(self, root: str, rel: str, header: list[str] | None = None):
        self.rel = rel
        path = os.path.join(root, *rel.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.f = open(path, "w", encoding="utf-8", newline="")
        self.line = 0
        self.count = 0
        if header is not None:
            self.csv = csv.writer(self.f, lineterminator="\r\n")
            self.csv.writerow(header)
            self.line = 1
        else:
            self.csv = None

    def row(self, cells: list) -> int:
        self.csv.writerow(cells)
        self.line += 1
        self.count += 1
        return self.line

    def record(self, obj: dict) -> int:
        self.f.write(Sink._encode(obj))
        self.f.write("\n")
        self.line += 1
        self.count += 1
        return self.line

    def close(self) -> None:
        self.f.close()


class CTFWriter:
    """A school's roll as a DfE Common Transfer File (CTF 21), written pupil by pupil.

    The same pupils as the school's enrolment.csv and attendance.csv, with the values its MIS holds
    (names and UPNs with their faults; none of the CSV rows' blanked or impossible values, which a
    schema-checked CTF cannot hold). Only the elements Sightline reads are written: no gender,
    ethnicity, contacts or assessments. localRef is not in a CTF (the client derives it), so these
    records are not in ground-truth.csv."""

    def __init__(self, root: str, rel: str, urn: str, la: str, written_at: str, academic_year: int):
        self.rel = rel
        self.urn, self.la, self.estab = urn, la, SCHOOLS[urn]["estab"]
        path = os.path.join(root, *rel.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.f = open(path, "w", encoding="utf-8", newline="\n")
        self.pupils = self.enrolments = self.attendance = 0
        name = xml_escape(SCHOOL_NAMES[urn])
        self.f.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n<CTfile>\n  <Header>\n'
            '    <DocumentName>Common Transfer File</DocumentName>\n    <CTFversion>21.0</CTFversion>\n'
            f'    <DateTime>{written_at}</DateTime>\n    <DocumentQualifier>full</DocumentQualifier>\n'
            '    <SupplierID>Sightline synthetic sample data</SupplierID>\n'
            f'    <SourceSchool>\n      <LEA>{la}</LEA>\n      <Estab>{self.estab}</Estab>\n      <URN>{urn}</URN>\n'
            f'      <SchoolName>{name}</SchoolName>\n      <AcademicYear>{academic_year}</AcademicYear>\n    </SourceSchool>\n'
            f'    <DestSchool>\n      <LEA>{la}</LEA>\n      <Estab>LLLL</Estab>\n    </DestSchool>\n  </Header>\n  <CTFpupilData>\n')

    def pupil(self, upn: str, surname: str, forename: str, dob: str, postcode: str, address: str | None,
              uprn: str | None, entry: str, leave: str | None, reason: str | None, sen: str, fsm_from: str | None,
              years: list[tuple[int, str, int, int, int]]) -> None:
        """years: (Year, AttendanceStartDate, possible, authorised, unauthorised)."""
        e = xml_escape
        out = [f"    <Pupil>\n      <UPN>{e(upn)}</UPN>\n      <Surname>{e(surname)}</Surname>\n"
               f"      <Forename>{e(forename)}</Forename>\n      <DOB>{dob}</DOB>\n"]
        out.append(f"      <SENhistory>\n        <SEN>\n          <StartDate>{entry}</StartDate>\n"
                   f"          <SENprovision>{sen}</SENprovision>\n        </SEN>\n      </SENhistory>\n")
        if fsm_from:
            out.append(f"      <FSMhistory>\n        <FSMinstance>\n          <FSMstartDate>{fsm_from}</FSMstartDate>\n"
                       "        </FSMinstance>\n      </FSMhistory>\n")
        out.append("      <Address>\n")
        parts = CTFWriter.bs7666(address) if address else None
        if parts or uprn:
            out.append("        <BS7666Address>\n")
            for tag, value in zip(("SAON", "PAON", "Street"), parts or (None, None, None)):
                if value:
                    out.append(f"          <{tag}>{e(value)}</{tag}>\n")
            if uprn:
                out.append(f"          <UniquePropertyReferenceNumber>{uprn}</UniquePropertyReferenceNumber>\n")
            out.append("        </BS7666Address>\n")
        if address and not parts:
            out.append(f"        <AddressLines>\n          <AddressLine1>{e(address)}</AddressLine1>\n        </AddressLines>\n")
        out.append(f"        <PostCode>{e(postcode)}</PostCode>\n      </Address>\n")
        if years:
            out.append("      <Attendance>\n")
            for year, start, possible, authorised, unauthorised in years:
                out.append(f"        <YearData>\n          <Year>{year}</Year>\n          <LEA>{self.la}</LEA>\n"
                           f"          <Estab>{self.estab}</Estab>\n          <SessionsPossible>{possible}</SessionsPossible>\n"
                           f"          <SessionsAuthorised>{authorised}</SessionsAuthorised>\n"
                           f"          <SessionsUnauthorised>{unauthorised}</SessionsUnauthorised>\n"
                           f"          <AttendanceStartDate>{start}</AttendanceStartDate>\n        </YearData>\n")
            out.append("      </Attendance>\n")
        out.append(f"      <SchoolHistory>\n        <School>\n          <LEA>{self.la}</LEA>\n          <Estab>{self.estab}</Estab>\n"
                   f"          <URN>{self.urn}</URN>\n          <SchoolName>{e(SCHOOL_NAMES[self.urn])}</SchoolName>\n"
                   f"          <EntryDate>{entry}</EntryDate>\n")
        if leave:
            out.append(f"          <LeavingDate>{leave}</LeavingDate>\n")
            out.append(f"          <LeavingReason>{e(CTF_LEAVING_REASON[reason])}</LeavingReason>\n")
        out.append("        </School>\n      </SchoolHistory>\n    </Pupil>\n")
        self.f.write("".join(out))
        self.pupils += 1
        self.enrolments += 1
        self.attendance += len(years)

    @staticmethod
    def bs7666(line: str):
        """(SAON, PAON, Street) of a first line "[Flat N, ]NUMBER STREET", or None for other forms."""
        flat = None
        rest = line
        head = line.split(", ", 1)
        if len(head) == 2 and head[0].upper().startswith("FLAT "):
            flat, rest = head
        number, _, street = rest.partition(" ")
        if not number.isdigit() or not street:
            return None
        return flat, number, street

    def close(self) -> None:
        self.f.write("  </CTFpupilData>\n</CTfile>\n")
        self.f.close()


def fhir_patient(rec: dict) -> dict:
    """A GP registration record as the FHIR R4 Patient resource an NHS bulk export writes: the
    same localRef (as Patient.id), identifiers and dates, and the same faults; the practice's
    carers-register flag (`youngCarer`) has no place in a Patient and is left out."""
    ids, fields = rec["identifiers"], rec["fields"]
    patient = {"resourceType": "Patient", "id": rec["localRef"], "meta": {"lastUpdated": rec["observedAt"]}}
    if "nhsNumber" in ids:
        patient["identifier"] = [{"system": FHIR_NHS_NUMBER, "value": ids["nhsNumber"]}]
    name = {"use": "official"}
    if "familyName" in ids:
        name["family"] = ids["familyName"]
    if "givenName" in ids:
        name["given"] = ids["givenName"].split(" ")
    patient["name"] = [name]
    if "dateOfBirth" in ids:
        patient["birthDate"] = ids["dateOfBirth"]
    address = {"use": "home"}
    if "address" in ids:
        address["line"] = [ids["address"]]
    if "postcode" in ids:
        address["postalCode"] = ids["postcode"]
    if "uprn" in ids:
        address["extension"] = [{"url": FHIR_ADDRESS_KEY, "extension": [
            {"url": "type", "valueCoding": {"system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-AddressKeyType", "code": "UPRN"}},
            {"url": "value", "valueString": ids["uprn"]}]}]
    patient["address"] = [address]
    if "practice" in fields:
        identifier = {"system": FHIR_ODS_CODE, "value": fields["practice"]}
        period = {}
        if "registeredFrom" in fields:
            period["start"] = fields["registeredFrom"]
        if "deregisteredOn" in fields:
            period["end"] = fields["deregisteredOn"]
        if period:
            identifier["period"] = period
        patient["generalPractitioner"] = [{"type": "Organization", "identifier": identifier}]
    return patient


# --------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------

def _cumulative(pairs):
    items, cum, total = [], [], 0.0
    for item, w in pairs:
        total += w
        items.append(item)
        cum.append(total)
    return items, [c / total for c in cum]


def generate(children: int = DEFAULT_CHILDREN, out_dir: str = HERE,
             today: dt.date = dt.date.fromisoformat(DEFAULT_TODAY), seed: int = SEED) -> dict:
    if children < 1:
        raise ValueError("--children must be at least 1")
    self_test()
    _check_names()

    rng = Random(seed)
    r = rng.random
    rr = rng.randrange
    choice = rng.choice
    bisect_right = bisect.bisect_right

    class Rate:
        """Bernoulli draws at rate p, nudged towards p by the running shortfall, so that a small
        sample still shows the advertised rate while which records are hit stays random."""

        def __init__(self, p: float, draw=None):
            self.p, self.n, self.k = p, 0, 0
            self.draw = r if draw is None else draw

        def __call__(self, weight: int = 1) -> bool:
            self.n += weight
            hit = self.draw() < self.p + 0.1 * (self.p * self.n - self.k) / weight
            if hit:
                self.k += weight
            return hit

    name_fault_rate = Rate(P_NAME_FAULT)
    nhs_invalid_rate = Rate(P_NHS_INVALID)
    upn_invalid_rate = Rate(P_UPN_INVALID)
    no_id_rate = Rate(P_NO_STRONG_ID)
    reject_rate = Rate(P_REJECT)
    moved_rate = Rate(P_MOVED_FAMILY)
    out_of_area_rate = Rate(P_OUT_OF_AREA_FAMILY)
    tenancy_rate = Rate(P_TENANCY_FAMILY)
    police_rate = Rate(P_POLICE_CHILD)
    young_carer_rate = Rate(P_YOUNG_CARER)
    part_time_rate = Rate(P_PART_TIME)
    severe_rate = Rate(P_ABSENCE_SEVERE)
    persistent_rate = Rate(P_ABSENCE_PERSISTENT / (1 - P_ABSENCE_SEVERE))
    off_roll_rate = Rate(P_OFF_ROLL)
    on_roll_in_rate = Rate(P_ON_ROLL_IN_AREA)
    on_roll_out_rate = Rate(P_ON_ROLL_OUT_OF_AREA)
    excluded_rate = Rate(P_EXCLUDED)
    # GP carers registers: their own stream, so that every draw above (and every other file) is
    # unchanged by them.
    carers_rng = Random(f"{seed}/gp-carers-register")
    gp_young_carer_rate = Rate(P_GP_YOUNG_CARER, carers_rng.random)
    gp_only_young_carer_rate = Rate(P_GP_ONLY_YOUNG_CARER, carers_rng.random)

    def pick(table):
        items, cum = table
        return items[bisect_right(cum, r())]

    primary_t = _cumulative(PRIMARY_SCHOOLS)
    secondary_t = _cumulative(SECONDARY_SCHOOLS)
    practice_t = _cumulative(PRACTICES)
    reason_t = _cumulative(OFF_ROLL_REASONS)
    sen_t = _cumulative(SEN_STATUSES)
    exclusion_t = _cumulative(EXCLUSION_CATEGORIES)
    police_t = _cumulative(POLICE_CATEGORIES)
    family_size_t = _cumulative(((1, 0.45), (2, 0.35), (3, 0.15), (4, 0.05)))

    T = today.toordinal()
    extract = T - 1                       # the day the agencies ran their extracts
    dob_lo = add_years(today, -18).toordinal() + 1
    dob_hi = add_years(today, -2).toordinal()        # ages 2..17 today
    last_31_aug = dt.date(today.year, 8, 31)
    if last_31_aug > today:
        last_31_aug = dt.date(today.year - 1, 8, 31)
    AY = last_31_aug.year                 # the academic year that started in September AY
    prev_ay_start = dt.date(AY - 1, 9, 1).toordinal()

    def school_start(year: int) -> int:
        return first_weekday_on_or_after(dt.date(year, 9, 3))

    # The two most recent half terms that ended before today, oldest first.
    terms = [t for y in (AY - 2, AY - 1, AY) for t in half_terms(y) if t[2].toordinal() < T][-2:]
    # Each school closes for one INSET day in each of those half terms (a different day per
    # school), so sessionsPossible differs a little between schools.
    school_days: dict[str, list[list[int]]] = {}
    for urn in SCHOOLS:
        per_term = []
        for _, start, end in terms:
            days = [o for o in range(start.toordinal(), end.toordinal() + 1) if is_weekday(o)]
            del days[rr(len(days))]
            per_term.append(days)
        school_days[urn] = per_term

    def rand_weekday(a: int, b: int) -> int:
        """A weekday in [a, b] (a >= b returns a weekday near a)."""
        if b <= a:
            o = a
            while not is_weekday(o):
                o -= 1
            return o
        for _ in range(12):
            o = a + rr(b - a + 1)
            if is_weekday(o):
                return o
        while not is_weekday(o):
            o -= 1
        return o

    def postcode(in_area: bool) -> str:
        district = choice(IN_AREA_DISTRICTS if in_area else OUT_OF_AREA_DISTRICTS)
        return f"{district} {rr(10)}{choice(INWARD_LETTERS)}{choice(INWARD_LETTERS)}"

    used_nhs: set[str] = set()

    def new_nhs() -> str:
        while True:
            first9 = "9" + f"{rr(100_000_000):08d}"
            c = nhs_check_value(first9)
            if c == 10:
                continue
            n = first9 + str(c)
            if n in used_nhs:
                continue
            used_nhs.add(n)
            assert nhs_valid(n)
            return n

    def corrupt_nhs(n: str) -> str:
        while True:
            i = rr(10)
            d = str(rr(10))
            if d == n[i]:
                continue
            bad = n[:i] + d + n[i + 1:]
            assert not nhs_valid(bad)
            return bad

    used_upn: set[str] = set()

    def new_upn(la: str, estab: str, year: int, temporary: bool) -> str:
        attempts = 0
        while True:
            attempts += 1
            if attempts > 20:
                # That school's serials for the year are used up (only at very large --children):
                # the UPN was issued by another Brent establishment.
                estab = f"{2002 + rr(2000):04d}"
            if temporary:
                body = f"{la}{estab}{year % 100:02d}{rr(100):02d}{choice(UPN_ALPHA)}"
            else:
                body = f"{la}{estab}{year % 100:02d}{rr(1000):03d}"
            u = upn_check_letter(body) + body
            if u in used_upn:
                continue
            used_upn.add(u)
            assert upn_valid(u)
            return u

    def corrupt_upn(u: str) -> str:
        while True:
            c = choice(UPN_ALPHA)
            if c != u[0]:
                bad = c + u[1:]
                assert not upn_valid(bad)
                return bad

    def name_fault(name: str) -> tuple[str, str]:
        """A realistic variant of a name, and what kind of variant it is."""
        plain = strip_diacritics(name)
        x = r()
        if plain != name and x < 0.4:
            return (plain.lower() if r() < 0.3 else plain), "diacritics"       # "zoe" for "Zoë"
        if x < 0.4 and any(c in " -'" for c in name):
            y = r()
            if " " in name:
                return (name.replace(" ", "") if y < 0.5 else name.replace(" ", "  ")), "spacing"
            if "-" in name:
                return (name.replace("-", " ") if y < 0.5 else name.replace("-", "")), "spacing"
            return (name.replace("'", "") if y < 0.5 else name.replace("'", " ")), "spacing"
        y = r()
        if y < 0.3:
            return (name.upper() if r() < 0.6 else name.lower()), "case"
        letters = [i for i, c in enumerate(name) if c.isalpha()]
        if y < 0.65:
            pairs = [i for i in letters[:-1] if name[i + 1].isalpha() and name[i].lower() != name[i + 1].lower()]
            if pairs:
                i = choice(pairs)
                swapped = name[:i] + name[i + 1] + name[i] + name[i + 2:]
                if i == 0:                                   # "Aoife" -> "Oaife", not "oAife"
                    swapped = swapped[0].upper() + swapped[1].lower() + swapped[2:]
                if swapped != name:
                    return swapped, "typo-swap"
        if len(letters) >= 3:
            i = choice(letters[1:])
            return name[:i] + name[i + 1:], "typo-drop"
        return name.upper(), "case"

    def faulty_names(given: str, family: str, weight: int = 1):
        """The original mild faults (first stream): names as written, the fault and its field."""
        if not name_fault_rate(weight):
            return given, family, None, None
        if r() < 0.5:
            g, kind = name_fault(given)
            return g, family, "name-" + kind, "identifiers.givenName"
        f, kind = name_fault(family)
        return given, f, "name-" + kind, "identifiers.familyName"

    # ---- Harder faults (second stream) ----------------------------------------------------------
    hrng = Random(f"{seed}/harder-linkage")
    hr = hrng.random
    hrr = hrng.randrange
    hchoice = hrng.choice
    variants = load_name_variants()

    class Rates(dict):
        """One second-stream Rate per (kind, source), made on first use."""

        def __init__(self, table):
            super().__init__()
            self.table = table

        def __call__(self, source: str, weight: int = 1) -> bool:
            p = self.table.get(source, 0.0) if isinstance(self.table, dict) else self.table
            if p <= 0:
                return False
            rate = self.get(source)
            if rate is None:
                rate = self[source] = Rate(p, hr)
            return rate(weight)

    given_typo_rate = Rates(P_GIVEN_TYPO)
    family_typo_rate = Rates(P_FAMILY_TYPO)
    short_form_rate = Rates(P_SHORT_FORM)
    spelling_rate = Rates(P_SPELLING)
    dob_swap_rate = Rates(P_DOB_SWAP)
    family_part_rate = Rates(P_FAMILY_PART)
    given_part_rate = Rates(P_GIVEN_PART)
    no_given_rate = Rates(P_NO_GIVEN_NAME)
    school_nhs_rate = Rate(P_SCHOOL_NHS, hr)
    address_rate = Rates(P_ADDRESS)
    uprn_rate = Rates(P_UPRN)
    uprn_typo_rate = Rates(P_UPRN_TYPO)
    addr_abbrev_rate = Rate(P_ADDR_ABBREV, hr)
    addr_no_flat_rate = Rate(P_ADDR_NO_FLAT, hr)
    addr_flat_format_rate = Rate(P_ADDR_FLAT_FORMAT, hr)
    addr_upper_rate = Rate(P_ADDR_UPPER, hr)
    addr_number_typo_rate = Rate(P_ADDR_NUMBER_TYPO, hr)

    def typo(name: str) -> tuple[str, str]:
        """One keyboard slip in a name: a letter inserted, deleted, substituted by a neighbouring
        key, or two letters transposed. The first letter is kept in most cases, as in real data."""
        letters = [i for i, c in enumerate(name) if c.isalpha()]
        for _ in range(20):
            pool = letters if (hr() < 0.12 or len(letters) < 3) else letters[1:]
            i = hchoice(pool)
            c = name[i]
            low = strip_diacritics(c).lower()
            near = KEYBOARD_NEAR.get(low, "")
            x = hr()
            upper = c.isupper() and (i > 0 or name.isupper())
            if x < 0.3 and near:
                d = hchoice(near)
                out, kind = name[:i] + (d.upper() if upper or (i == 0 and c.isupper()) else d) + name[i + 1:], "name-typo-substitute"
            elif x < 0.55:
                d = hchoice(near) if (near and hr() < 0.6) else low       # a neighbour, or the letter doubled
                out, kind = name[:i + 1] + (d.upper() if name.isupper() else d) + name[i + 1:], "name-typo-insert"
            elif x < 0.8 and len(letters) >= 4:
                out, kind = name[:i] + name[i + 1:], "name-typo-delete"
                if i == 0:
                    out = out[0].upper() + out[1:]
            else:
                j = i + 1
                if j >= len(name) or not name[j].isalpha() or name[j].lower() == c.lower():
                    continue
                out = name[:i] + name[j] + name[i] + name[j + 1:]
                if i == 0 and not name.isupper():
                    out = out[0].upper() + out[1].lower() + out[2:]
                kind = "name-typo-transpose"
            if normalise_name(out) != normalise_name(name) and any(ch.isalpha() for ch in out):
                return out, kind
        return name[:letters[-1]] + name[letters[-1] + 1:], "name-typo-delete"

    def compound_part(name: str, sep: str) -> str:
        parts = [p for p in name.split(sep) if p]
        return hchoice(parts) if sep == "-" else parts[0]

    def harder_names(source: str, g: str, f: str, old_field, weight: int = 1):
        """The second stream's name faults on top of the first's: at most one change of substance
        per name (a typo, a short form, another spelling, a part of a compound name), then the
        cosmetic ones (capitals, diacritics) a source's system imposes. Returns the names as
        written (given None when the record carries none) and [(fault, field)]."""
        faults = []
        gf, ff = "identifiers.givenName", "identifiers.familyName"
        if old_field != gf:
            key = normalise_name(g)
            spell, short = variants.get(key, ([], []))
            compound = "-" in g or " " in g
            if compound and given_part_rate(source, weight):
                g = compound_part(g, "-" if "-" in g else " ")
                faults.append(("name-given-part", gf))
            elif short and short_form_rate(source, weight):
                g = hchoice(short)
                faults.append(("name-short-form", gf))
            elif spell and spelling_rate(source, weight):
                g = hchoice(spell)
                faults.append(("name-spelling-variant", gf))
            elif given_typo_rate(source, weight):
                g, kind = typo(g)
                faults.append((kind, gf))
        if old_field != ff:
            if "-" in f and family_part_rate(source, weight):
                f = compound_part(f, "-")
                faults.append(("name-family-part", ff))
            elif family_typo_rate(source, weight):
                f, kind = typo(f)
                faults.append((kind, ff))
        if source == "police" and hr() < P_POLICE_UPPER_FAMILY and f != f.upper():
            f = f.upper()
            faults.append(("name-case", ff))
        if source == "gp":
            for field, value in ((gf, g), (ff, f)):
                plain = strip_diacritics(value)
                if plain != value and hr() < P_GP_ASCII:
                    faults.append(("name-diacritics", field))
                    if field == gf:
                        g = plain
                    else:
                        f = plain
        if source in P_NO_GIVEN_NAME and no_given_rate(source):
            g = None
            faults = [x for x in faults if x[1] != gf] + [("no-given-name", gf)]
        return g, f, faults

    def harder_dob(source: str, dob_o: int, weight: int = 1):
        d = dt.date.fromordinal(dob_o)
        if d.day <= 12 and d.day != d.month and dob_swap_rate(source, weight):
            return d.replace(month=d.day, day=d.month).toordinal(), [("dob-day-month-swapped", "identifiers.dateOfBirth")]
        return dob_o, []

    used_uprn: set[str] = set()

    def new_address(in_area: bool) -> dict:
        street = hchoice(IN_AREA_STREETS if in_area else OUT_OF_AREA_STREETS)
        number = 1 + hrr(180)
        flat = (1 + hrr(24)) if hr() < P_FLAT else None
        while True:
            if in_area:
                u = f"2020{hrr(10 ** 8):08d}"                 # Brent's LLPG range (synthetic)
            else:
                n = 8 + hrr(5)                                  # other authorities: 8 to 12 digits
                u = str(10 ** (n - 1) + hrr(9 * 10 ** (n - 1)))
            if u not in used_uprn:
                used_uprn.add(u)
                break
        return {"street": street, "number": number, "flat": flat, "uprn": u}

    def canonical_address(a: dict) -> str:
        line = f"{a['number']} {a['street']}"
        return f"Flat {a['flat']}, {line}" if a["flat"] else line

    def written_address(source: str, a: dict):
        """The first line as a source writes it, and the faults (all relative to the canonical
        form that housing holds)."""
        if source == "housing":
            return canonical_address(a), []
        faults = []
        street = a["street"]
        words = street.split(" ")
        if words[-1] in STREET_TYPES and len(words) > 1 and addr_abbrev_rate():
            words[-1] = STREET_TYPES[words[-1]]
            street = " ".join(words)
            faults.append(("address-abbreviation", "identifiers.address"))
        number = str(a["number"])
        if addr_number_typo_rate():
            if len(number) > 1 and number[0] != number[1] and hr() < 0.5:
                number = number[1] + number[0] + number[2:]
            else:
                digit = str((int(number[-1]) + 1 + hrr(8)) % 10)
                number = number[:-1] + digit
                if number[0] == "0":
                    number = "1" + number
            faults.append(("address-number-typo", "identifiers.address"))
        line = f"{number} {street}"
        if a["flat"]:
            if addr_no_flat_rate():
                faults.append(("address-no-flat", "identifiers.address"))
            elif addr_flat_format_rate():
                line = hchoice((f"Flat {a['flat']} {line}", f"{a['flat']}/{line}", f"{a['flat']} {line}"))
                faults.append(("address-flat-format", "identifiers.address"))
            else:
                line = f"Flat {a['flat']}, {line}"
        if addr_upper_rate():
            line = line.upper()
            faults.append(("address-case", "identifiers.address"))
        return line, faults

    def written_uprn(source: str, a: dict):
        u = a["uprn"]
        if uprn_typo_rate(source):
            i = hrr(len(u) - 1)
            if u[i] != u[i + 1]:
                return u[:i] + u[i + 1] + u[i] + u[i + 2:], [("uprn-typo", "identifiers.uprn")]
            d = str((int(u[i]) + 1) % 10)
            return u[:i] + d + u[i + 1:], [("uprn-typo", "identifiers.uprn")]
        return u, []

    def address_ids(source: str, a: dict, weight: int = 1):
        """(address or None, uprn or None, faults) for one record."""
        faults = []
        line = uprn = None
        if address_rate(source, weight):
            line, fs = written_address(source, a)
            faults += fs
        if uprn_rate(source, weight):
            uprn, fs = written_uprn(source, a)
            faults += fs
        return line, uprn, faults

    def harder_identifiers(source: str, g, f, old_field, dob_o: int, pick_address):
        """The harder faults of one non-school record, drawn in a fixed order: names, date of
        birth, then the address (`pick_address()` may draw, to choose an old or the current one)
        and its written form. (given, family, written date ordinal, address, line, uprn, faults)."""
        g, f, faults = harder_names(source, g, f, old_field)
        dob_w, dfaults = harder_dob(source, dob_o)
        addr = pick_address()
        addr_line, uprn, afaults = address_ids(source, addr)
        faults += dfaults + afaults
        if addr["old"]:
            faults.append(("old-address", "identifiers.postcode"))
        return g, f, dob_w, addr, addr_line, uprn, faults

    def bad_iso(o: int) -> str:
        d = dt.date.fromordinal(o)
        x = r()
        if x < 0.4:
            return f"{d.year:04d}-13-{d.day:02d}"
        if x < 0.7:
            return f"{d.year:04d}-02-30"
        if x < 0.85:
            return f"{d.year:04d}-{choice((4, 6, 9, 11)):02d}-31"
        return f"{d.year:04d}-{d.month:02d}-00"

    def bad_uk(o: int) -> str:
        d = dt.date.fromordinal(o)
        x = r()
        if x < 0.4 and d.day > 12:
            return f"{d.month:02d}/{d.day:02d}/{d.year:04d}"     # month and day swapped
        if x < 0.6:
            return f"{d.day:02d}/13/{d.year:04d}"
        if x < 0.85:
            return f"30/02/{d.year:04d}"
        return f"31/{choice((4, 6, 9, 11)):02d}/{d.year:04d}"

    os.makedirs(out_dir, exist_ok=True)
    sinks: dict[str, Sink] = {}

    def sink(rel: str, header=None) -> Sink:
        s = Sink(out_dir, rel, header)
        sinks[rel] = s
        return s

    enrol_sink = {u: sink(f"school-{u}/enrolment.csv", ENROLMENT_HEADER) for u in SCHOOLS}
    attend_sink = {u: sink(f"school-{u}/attendance.csv", ATTENDANCE_HEADER) for u in SCHOOLS}
    excl_sink = {u: sink(f"school-{u}/exclusions.ndjson") for u in SCHOOLS}
    gp_sink = sink("nhs/gp-registrations.ndjson")
    police_sink = sink("police/notifications.ndjson")
    housing_sink = sink("housing/tenancies.csv", HOUSING_HEADER)
    la_sink = sink("la/registers.ndjson")
    # The same records in other systems' forms; not in `sinks`, so they count in no total above.
    academic_year = today.year if today.month >= 9 else today.year - 1
    ctf_writer = CTFWriter(out_dir, f"school-{CTF_SCHOOL}/ctf.xml", CTF_SCHOOL, LA_CODE, f"{iso(extract)}T17:30:00", academic_year)
    fhir_sink = Sink(out_dir, "nhs/gp-registrations.fhir.ndjson")
    truth = Sink(out_dir, "ground-truth.csv", ["file", "localRef", "child"])
    faults = Sink(out_dir, "faults.csv", ["file", "line", "localRef", "child", "fault", "field"])
    expected_sink = Sink(out_dir, "expected-missing-education.csv",
                         ["child", "status", "why", "schoolYearGroup", "postcodeDistrict"])
    expected_counts: dict[str, int] = {}
    truth_row = truth.csv.writerow
    fault_row = faults.csv.writerow

    stats = {
        "children": children, "families": 0, "out_of_area_children": 0, "moved_children": 0,
        "school_age_in_area": 0, "school_age_in_area_on_roll": 0,
        "named_records": 0, "name_faults": 0,
        "gp_records": 0, "nhs_invalid": 0,
        "school_records": 0, "upn_invalid": 0, "enrolments": 0, "enrolments_off_roll": 0,
        "reappeared": 0, "temporary_upns": 0,
        "housing_police_records": 0, "no_strong_id": 0,
        "reject": 0, "records": 0,
        "attendance_records": 0, "persistent": 0, "severe": 0,
        "children_on_register": 0, "children_with_police": 0, "children_with_gp": 0,
        "children_excluded_on_roll": 0, "enrolments_young_carer": 0, "enrolments_part_time": 0,
        "families_with_tenancy": 0,
        "young_carers_with_gp": 0, "gp_young_carer_children": 0,
        "not_young_carer_pupils_with_gp": 0, "gp_only_young_carers": 0,
        "gp_young_carer_records": 0, "young_carers_report_expected": 0,
        "twin_children": 0, "twin_sets": 0, "twins_forced_off_roll": 0, "expected_twin_of_pupil": 0,
        "expected_missing": 0,
    }
    fault_counts: dict[str, int] = {}
    fault_by_source: dict[tuple, int] = {}
    records_by_source: dict = {}

    def source_of(rel: str) -> str:
        return {"nhs": "gp", "police": "police", "housing": "housing", "la": "la"}.get(rel.split("/")[0], "school")

    def note_fault(s: Sink, line: int, ref: str, cid: str, fault: str, field: str = "") -> None:
        fault_row([s.rel, line, ref, cid, fault, field])
        fault_counts[fault] = fault_counts.get(fault, 0) + 1
        key = (fault, field, source_of(s.rel))
        fault_by_source[key] = fault_by_source.get(key, 0) + 1

    def note_all(s: Sink, line: int, ref: str, cid: str, faults_: list) -> None:
        for fault, field in faults_:
            note_fault(s, line, ref, cid, fault, field)

    def eligible_kinds(given: str, family: str, dob_o: int) -> list[str]:
        """Which of the harder faults this child's true identifiers allow (rates' denominators)."""
        kinds = []
        spell, short = variants.get(normalise_name(given), ([], []))
        if short:
            kinds.append("short")
        if spell:
            kinds.append("spelling")
        if "-" in given or " " in given:
            kinds.append("given-part")
        if "-" in family:
            kinds.append("family-part")
        d = dt.date.fromordinal(dob_o)
        if d.day <= 12 and d.day != d.month:
            kinds.append("dob-swap")
        return kinds

    def count_record(source: str, kinds: list[str], nhs_, address, uprn) -> None:
        c = records_by_source
        c[source] = c.get(source, 0) + 1
        for key in kinds + (["nhs"] if nhs_ else []) + (["address"] if address else []) + (["uprn"] if uprn else []):
            c[(key, source)] = c.get((key, source), 0) + 1

    def add_address(ids: dict, address, uprn) -> None:
        if address:
            ids["address"] = address
        if uprn:
            ids["uprn"] = uprn

    def expected_missing(age31: int, lives_in_area: bool, enrolments_truth, evidence, had_upn: bool):
        """(status, why) if MissingEducationReport must list this child, given the records the
        gateway accepts and linkage that is right; None otherwise."""
        if not (5 <= age31 <= 15) or not lives_in_area:          # Year 1 to Year 11; resident
            return None
        if any(ok and leave is None for ok, leave, _ in enrolments_truth):
            return None                                            # on a roll the gateway knows
        if any(ok and cur and kind == "la" and reg in ("ehe", "cnis") for kind, ok, cur, reg in evidence):
            return None
        if any(ok and kind == "housing" and moved for kind, ok, _, moved in evidence):
            return None                                            # latest tenancy: moved out of area
        known = [kind for kind, ok, cur, extra in evidence
                 if ok and cur and not (kind == "housing" and extra)]
        if not known:
            return None                                            # known to no agency that counts
        ended = [(leave, reason) for ok, leave, reason in enrolments_truth if ok and leave is not None]
        rejected_current = any(not ok and leave is None for ok, leave, _ in enrolments_truth)
        if ended:
            leave, reason = max(ended)
            status = "transfer-unconfirmed" if reason == "other-school" else "off-roll"
            why = f"off roll {reason}"
            if reason == "other-school":
                why += ", new school not in the data"
            elif reason == "ehe":
                why += ", not on the EHE register"
            elif reason == "moved-away":
                why += ", still resident"
        else:
            status = "never-on-roll"
            why = "never enrolled" if not had_upn else "every enrolment rejected at ingest"
        if rejected_current:
            why = ("on roll, but the current enrolment is rejected at ingest" if not ended
                   else why + "; on roll again, but that enrolment is rejected at ingest")
        return status, why

    def reject_csv(cells: list, date_cols: list[tuple[int, int, str]], required: tuple[int, str]):
        """Spoil one row: blank a required column, or put an impossible date in a date column."""
        if r() < 0.4:
            idx, field = required
            cells[idx] = ""
            return "reject-missing-field", field
        idx, o, field = choice(date_cols)
        cells[idx] = bad_uk(o)
        return "reject-bad-date", field

    def reject_json(rec: dict, date_paths: list[tuple[str, str, int]], required: list[str]):
        if r() < 0.4:
            name = choice(required)
            del rec["fields"][name]
            return "reject-missing-field", "fields." + name
        section, key, o = choice(date_paths)
        if key == "occurredAt":
            rec[section][key] = bad_iso(o) + rec[section][key][10:]
        else:
            rec[section][key] = bad_iso(o)
        return "reject-bad-date", f"{section}.{key}"

    adno_counter = {u: 0 for u in SCHOOLS}
    excl_counter = {u: 0 for u in SCHOOLS}
    gp_counter = {p: 0 for p, _ in PRACTICES}
    police_counter = 0
    la_counter = 0
    obs_school = f"{iso(extract)}T17:30:00Z"
    obs_nhs = f"{iso(extract)}T02:00:00Z"
    obs_la = f"{iso(extract)}T18:00:00Z"
    extract_dt = dt.datetime.combine(dt.date.fromordinal(extract), dt.time(23, 0))

    def emit_enrolment(cid, urn, given, family, dob_o, pc, upn, entry, leave, reason,
                       sen, yc, fsm, ptt, absence, nhs, addr):
        adno_counter[urn] += 1
        adno = f"{adno_counter[urn]:06d}"
        # The half terms in which the pupil was on roll: (term index, first day, last day).
        last_day = (leave - 1) if leave else T
        on_roll_terms = []
        for ti, (_, tstart, tend) in enumerate(terms):
            a = max(entry, tstart.toordinal())
            b = min(last_day, tend.toordinal())
            if b >= a:
                on_roll_terms.append((ti, a, b))
        # A wrong name or UPN is held in the MIS, so it reaches every record of this enrolment.
        weight = 1 + len(on_roll_terms)
        g, f, nf, nf_field = faulty_names(given, family, weight)
        upn_bad = upn_invalid_rate(weight)
        upn_out = corrupt_upn(upn) if upn_bad else upn
        # The second stream: what else the MIS holds, and how.
        g, f, hfaults = harder_names("school", g, f, nf_field, weight)
        dob_w, dfaults = harder_dob("school", dob_o, weight)
        hfaults += dfaults
        nhs_out = nhs if school_nhs_rate(weight) else None
        addr_line, uprn, afaults = address_ids("school", addr, weight)
        hfaults += afaults
        if pc != addr["postcode"]:
            raise AssertionError("school address and postcode disagree")
        if addr.get("old"):
            hfaults.append(("old-address", "identifiers.postcode"))
        kinds = eligible_kinds(given, family, dob_o)
        es = enrol_sink[urn]
        cells = [adno, upn_out, f, g, uk(dob_w), pc, uk(entry), uk(leave) if leave else "",
                 OFF_ROLL_TEXT[reason] if reason else "", sen, "Y" if yc else "N",
                 "Y" if fsm else "N", "Y" if ptt else "N", nhs_out or "", addr_line or "", uprn or ""]
        rej = None
        if reject_rate():
            dates = [(4, dob_w, "identifiers.dateOfBirth"), (6, entry, "fields.onRollFrom")]
            if leave:
                dates.append((7, leave, "fields.offRollOn"))
            rej = reject_csv(cells, dates, (6, "fields.onRollFrom"))
        line = es.row(cells)
        truth_row([es.rel, adno, cid])
        stats["enrolments"] += 1
        stats["school_records"] += 1
        stats["named_records"] += 1
        stats["records"] += 1
        if leave:
            stats["enrolments_off_roll"] += 1
        if yc:
            stats["enrolments_young_carer"] += 1
        if ptt:
            stats["enrolments_part_time"] += 1
        if nf:
            stats["name_faults"] += 1
            note_fault(es, line, adno, cid, nf, nf_field)
        note_all(es, line, adno, cid, hfaults)
        count_record("school", kinds, nhs_out, addr_line, uprn)
        if upn_bad:
            stats["upn_invalid"] += 1
            note_fault(es, line, adno, cid, "upn-invalid-check", "identifiers.upn")
        if rej:
            stats["reject"] += 1
            note_fault(es, line, adno, cid, *rej)

        # Attendance: one record per half term in which the pupil was on roll.
        as_ = attend_sink[urn]
        ctf_years = []
        for ti, a, b in on_roll_terms:
            _, tstart, tend = terms[ti]
            days = school_days[urn][ti]
            n_days = bisect_right(days, b) - bisect.bisect_left(days, a)
            possible = 2 * n_days
            if possible == 0:
                continue
            if ptt:
                rate = 0.35 + 0.3 * r()
                unauth_share = 0.05 * r()
            elif absence == 2:
                rate = 0.5 + 0.45 * r()
                unauth_share = 0.5 + 0.5 * r()
            elif absence == 1:
                rate = 0.10 + 0.35 * r()
                unauth_share = 0.3 + 0.5 * r()
            else:
                rate = 0.095 * r() * r()
                unauth_share = 0.25 * r()
            if absence or ptt:
                absent = -int(-possible * rate // 1)       # ceiling keeps the category's floor
            else:
                absent = int(possible * rate)
            absent = min(absent, possible)
            unauth = int(round(absent * unauth_share))
            present = possible - absent
            # The CTF's YearData: the school year (starting in September) and its totals.
            ctf_years.append((tstart.year if tstart.month >= 9 else tstart.year - 1, tstart.isoformat(),
                              possible, absent - unauth, unauth))
            ratio = absent / possible
            stats["attendance_records"] += 1
            if ratio >= 0.10:
                stats["persistent"] += 1
            if ratio >= 0.50:
                stats["severe"] += 1
            ps = uk(tstart.toordinal())
            cells = [adno, upn_out, f, g, uk(dob_w), ps, uk(tend.toordinal()), str(possible),
                     str(present), str(unauth), nhs_out or ""]
            arej = None
            if reject_rate():
                arej = reject_csv(cells, [(4, dob_w, "identifiers.dateOfBirth"),
                                          (6, tend.toordinal(), "fields.periodEnd")],
                                  (7, "fields.sessionsPossible"))
            ref = f"{adno}#{cells[5]}"
            aline = as_.row(cells)
            truth_row([as_.rel, ref, cid])
            stats["school_records"] += 1
            stats["named_records"] += 1
            stats["records"] += 1
            if nf:
                stats["name_faults"] += 1
                note_fault(as_, aline, ref, cid, nf, nf_field)
            # The attendance export carries names, DOB and NHS number, not the address.
            note_all(as_, aline, ref, cid, [x for x in hfaults if not x[1].startswith(("identifiers.address", "identifiers.uprn", "identifiers.postcode"))])
            count_record("school", kinds, nhs_out, None, None)
            if upn_bad:
                stats["upn_invalid"] += 1
                note_fault(as_, aline, ref, cid, "upn-invalid-check", "identifiers.upn")
            if arej:
                stats["reject"] += 1
                note_fault(as_, aline, ref, cid, *arej)

        # Exclusions.
        exclusions = []
        if reason == "permanent-exclusion":
            k = 5 + rr(16)                          # school days excluded while still on roll
            start = leave - (k * 7) // 5
            start = max(start, entry)
            while not is_weekday(start):
                start += 1
            exclusions.append(("permanent", start, weekdays_between(start, leave - 1)))
        if excluded_rate():
            lo = max(entry, prev_ay_start)
            hi = (leave - 1) if leave else extract - 1
            if hi >= lo:
                stats["children_excluded_on_roll"] += 1
                for _ in range(1 + (r() < 0.25) + (r() < 0.08)):
                    cat = pick(exclusion_t)
                    if cat == "suspension":
                        days = choice((1, 1, 1, 2, 2, 3, 3, 5, 5, 10))
                    elif cat == "internal":
                        days = choice((1, 1, 2, 3))
                    else:
                        days = choice((30, 30, 60))  # managed-move trial, school days
                    exclusions.append((cat, rand_weekday(lo, hi), days))
        if exclusions:
            xs = excl_sink[urn]
            for cat, start, days in exclusions:
                excl_counter[urn] += 1
                ref = f"EXC-{urn}-{excl_counter[urn]:06d}"
                xids = {"upn": upn_out}
                if nhs_out:
                    xids["nhsNumber"] = nhs_out
                xids.update(givenName=g, familyName=f, dateOfBirth=iso(dob_w), postcode=pc)
                if addr_line:
                    xids["address"] = addr_line
                if uprn:
                    xids["uprn"] = uprn
                rec = {"kind": "school.exclusion", "localRef": ref, "observedAt": obs_school,
                       "identifiers": xids,
                       "fields": {"category": cat, "startDate": iso(start), "days": days}}
                xrej = None
                if reject_rate():
                    xrej = reject_json(rec, [("identifiers", "dateOfBirth", dob_w),
                                             ("fields", "startDate", start)],
                                       ["category", "startDate"])
                xline = xs.record(rec)
                truth_row([xs.rel, ref, cid])
                stats["school_records"] += 1
                stats["named_records"] += 1
                stats["records"] += 1
                if nf:
                    stats["name_faults"] += 1
                    note_fault(xs, xline, ref, cid, nf, nf_field)
                note_all(xs, xline, ref, cid, hfaults)
                count_record("school", kinds, nhs_out, addr_line, uprn)
                if upn_bad:
                    stats["upn_invalid"] += 1
                    note_fault(xs, xline, ref, cid, "upn-invalid-check", "identifiers.upn")
                if xrej:
                    stats["reject"] += 1
                    note_fault(xs, xline, ref, cid, *xrej)
        if urn == CTF_SCHOOL:
            ctf_writer.pupil(upn_out, f, g, iso(dob_w), pc, addr_line, uprn, iso(entry), iso(leave) if leave else None,
                             reason, sen, iso(entry) if fsm else None, ctf_years)
        # Whether the gateway will accept the enrolment record itself (valid UPN, not spoiled).
        return rej is None and not upn_bad

    child_no = 0
    family_no = 0
    tenancy_no = 0
    while child_no < children:
        family_no += 1
        size = min(pick(family_size_t), children - child_no)
        family_name = choice(FAMILY_NAMES)
        out_of_area = out_of_area_rate(size)
        home_pc = postcode(not out_of_area)
        if out_of_area:
            moved = False
            moved_rate.n += size                            # the rate is over all children
        else:
            moved = moved_rate(size)
        moved_out = False
        move_o = 0
        if moved:
            moved_out = r() < P_MOVED_OUT
            current_pc = postcode(not moved_out)
            while current_pc == home_pc:
                current_pc = postcode(not moved_out)
            move_o = rand_weekday(T - 540, T - 30)
        else:
            current_pc = home_pc
        lives_in_area = not out_of_area and not moved_out
        school_pc = home_pc                                 # movers: the school has the old one
        # Addresses (second stream): one per family, two for a family that moved.
        home_addr = new_address(not out_of_area)
        home_addr.update(postcode=home_pc, old=moved)
        if moved:
            current_addr = new_address(not moved_out)
            current_addr.update(postcode=current_pc, old=False)
        else:
            current_addr = home_addr
        moved_within = moved and not moved_out

        # Household tenancy (per family; one row per child).
        tenancy = None
        if tenancy_rate():
            stats["families_with_tenancy"] += 1
            tenancy_no += 1
            t_from = rand_weekday(T - 12 * 365, T - 60)
            t_to = None
            if moved_out:
                temp = r() < 0.3
                t_to = move_o
                t_from = min(t_from, move_o - 90)
                moved_flag = True
            elif out_of_area:
                temp = r() < 0.7                            # placed out of area by the LA
                moved_flag = True
            else:
                temp = r() < 0.15
                moved_flag = False
                if r() < 0.08 and t_from + 180 < T - 2:
                    t_to = rand_weekday(t_from + 180, T - 2)
            tenancy = (tenancy_no, t_from, t_to, temp, moved_flag)

        dobs = []
        twin_of: dict[int, int] = {}
        for i in range(size):
            if dobs and (r() < 0.02 or hr() < P_EXTRA_TWIN):
                dobs.append(dobs[-1])                        # twins
                twin_of[i] = twin_of.get(i - 1, i - 1)
                continue
            for _ in range(20):
                o = dob_lo + rr(dob_hi - dob_lo + 1)
                if all(abs(o - x) >= 300 for x in dobs):
                    break
            dobs.append(o)
        stats["twin_children"] += len(set(twin_of) | set(twin_of.values()))
        stats["twin_sets"] += len(set(twin_of.values()))
        family_expected = []
        givens: list[str] = []
        shown_givens: list[str] = []                     # the names the children have (second stream)
        families: list[str] = []
        urns: dict[int, str] = {}
        on_roll: dict[int, bool] = {}
        second_surname = choice(FAMILY_NAMES)

        for k in range(size):
            child_no += 1
            cid = f"C{child_no:06d}"
            given = choice(GIVEN_NAMES)
            while given in givens:
                given = choice(GIVEN_NAMES)
            givens.append(given)
            if hr() < P_NAME_FROM_VARIANTS:
                given = hchoice(EXTRA_GIVEN_NAMES)
            while normalise_name(given) in (normalise_name(x) for x in shown_givens):
                given = hchoice(EXTRA_GIVEN_NAMES)
            shown_givens.append(given)
            x = r()
            if x < 0.10:
                family = second_surname
            elif x < 0.14 and "-" not in family_name and "-" not in second_surname:
                family = f"{family_name}-{second_surname}"
            else:
                family = family_name
            twin = twin_of.get(k)
            if twin is not None:
                family = families[twin]                 # twins share the family name
            families.append(family)
            dob_o = dobs[k]
            dob = dt.date.fromordinal(dob_o)
            nhs = new_nhs()
            age31 = age_on(dob, last_31_aug)
            if not lives_in_area:
                stats["out_of_area_children"] += 1
            if moved:
                stats["moved_children"] += 1

            sen = pick(sen_t)
            yc = young_carer_rate()
            fsm = r() < P_FSM
            ptt = part_time_rate()
            absence = 2 if severe_rate() else (1 if persistent_rate() else 0)

            # ---- School -------------------------------------------------------------------
            upn = None
            on_roll_now = False
            current_enrolment_accepted = False      # a current enrolment the gateway will accept
            off_reason = None
            off_o = None
            school_age = 5 <= age31 <= 16
            if school_age and not out_of_area:
                stats["school_age_in_area"] += 1
            joins = school_age and (on_roll_out_rate() if out_of_area else on_roll_in_rate())
            enrolments_truth = []                    # (accepted, offRollOn, reason) per enrolment
            if (joins and twin is not None and on_roll.get(twin) and lives_in_area and 5 <= age31 <= 15
                    and hr() < P_TWIN_NOT_ON_ROLL):
                joins = False                        # a twin on no roll while the other is on one
                stats["twins_forced_off_roll"] += 1
            if joins:
                if not out_of_area:
                    stats["school_age_in_area_on_roll"] += 1
                yg = age31 - 4                                   # national curriculum year
                urn = pick(primary_t if yg <= 6 else secondary_t)
                if twin is not None and twin in urns:
                    urn = urns[twin]                         # twins go to the same school
                urns[k] = urn
                reception_year = AY - yg
                if SCHOOLS[urn]["phase"] == "secondary" or (yg >= 7 and r() < 0.15):
                    normal_entry = school_start(AY - (yg - 7))
                    joined_at_reception = False
                else:
                    normal_entry = school_start(reception_year)
                    joined_at_reception = True
                mid_year = r() < P_MID_YEAR_JOINER
                entry = normal_entry
                if mid_year and normal_entry + 1 < T - 7:
                    entry = rand_weekday(normal_entry + 1, T - 7)
                    joined_at_reception = False
                temporary = mid_year and r() < P_TEMPORARY_UPN
                if joined_at_reception:
                    upn = new_upn(LA_CODE, SCHOOLS[urn]["estab"], reception_year, temporary)
                else:
                    la = choice(OTHER_LA_CODES) if r() < P_UPN_OTHER_LA else LA_CODE
                    year = dt.date.fromordinal(entry).year if (mid_year and r() < 0.3) else reception_year
                    upn = new_upn(la, f"{2002 + rr(2000):04d}", year, temporary)
                if temporary:
                    stats["temporary_upns"] += 1
                leave = None
                if off_roll_rate():
                    lo = max(entry + 20, prev_ay_start)
                    hi = T - 2
                    if lo <= hi:
                        leave = rand_weekday(lo, hi)
                        off_reason = pick(reason_t)
                elif moved_out and move_o > entry + 20 and r() < 0.4:
                    leave = move_o if is_weekday(move_o) else rand_weekday(move_o, move_o)
                    off_reason = "moved-away"
                off_o = leave
                accepted = emit_enrolment(cid, urn, given, family, dob_o, school_pc, upn, entry, leave,
                                          off_reason, sen, yc, fsm, ptt, absence, nhs, home_addr)
                enrolments_truth.append((accepted, leave, off_reason))
                on_roll_now = leave is None
                current_enrolment_accepted = on_roll_now and accepted
                if off_reason == "other-school" and r() < P_REAPPEAR and leave + 3 <= T - 1:
                    urn2 = choice([u for u in (primary_t[0] if yg <= 6 else secondary_t[0]) if u != urn])
                    entry2 = rand_weekday(leave + 1, min(leave + 21, T - 1))
                    stats["reappeared"] += 1
                    accepted2 = emit_enrolment(cid, urn2, given, family, dob_o, school_pc, upn, entry2, None,
                                               None, sen, yc, fsm, ptt, absence, nhs, home_addr)
                    enrolments_truth.append((accepted2, None, None))
                    on_roll_now = True
                    current_enrolment_accepted = current_enrolment_accepted or accepted2

            on_roll[k] = on_roll_now
            evidence = []        # (kind, accepted, current, register or moved flag) as the gateway will see it

            # ---- GP -----------------------------------------------------------------------
            if r() < (P_GP_IN_AREA if lives_in_area else P_GP_OUT_OF_AREA):
                stats["children_with_gp"] += 1
                registrations = []
                practice = pick(practice_t)
                if r() < 0.75:
                    reg_from = min(dob_o + 7 + rr(84), T - 3)
                else:
                    reg_from = dob_o + rr(max(1, T - 30 - dob_o))
                dereg = None
                if r() < P_GP_DEREGISTERED and reg_from + 30 < T - 2:
                    dereg = reg_from + 30 + rr(T - 2 - reg_from - 30 + 1)
                registrations.append((practice, reg_from, dereg))
                if dereg is not None and r() < P_GP_REREGISTERED and dereg + 1 < T - 2:
                    p2 = choice([p for p, _ in PRACTICES if p != practice])
                    registrations.append((p2, min(dereg + 1 + rr(30), T - 2), None))
                # The practice's carers register: most young carers are on it; a few children
                # whose school records them as not young carers are on it too (the young-carers
                # report finds these). The flag is on the latest registration only.
                gp_carer = False
                if yc:
                    stats["young_carers_with_gp"] += 1
                    gp_carer = gp_young_carer_rate()
                    stats["gp_young_carer_children"] += gp_carer
                elif upn is not None:
                    stats["not_young_carer_pupils_with_gp"] += 1
                    gp_carer = gp_only_young_carer_rate()
                    stats["gp_only_young_carers"] += gp_carer
                gp_carer_accepted = False
                for i, (practice, reg_from, dereg) in enumerate(registrations):
                    gp_counter[practice] += 1
                    ref = f"GP-{practice}-{gp_counter[practice]:06d}"
                    g, f, nf, nf_field = faulty_names(given, family)
                    bad_nhs = nhs_invalid_rate()
                    g, f, dob_w, addr, addr_line, uprn, hfaults = harder_identifiers(
                        "gp", g, f, nf_field, dob_o, lambda: home_addr if (moved_within and hr() < P_MOVED_GP_OLD) else current_addr)
                    fields = {"practice": practice, "registeredFrom": iso(reg_from)}
                    if dereg is not None:
                        fields["deregisteredOn"] = iso(dereg)
                    flagged = gp_carer and i == len(registrations) - 1
                    if flagged:
                        fields["youngCarer"] = True
                    ids = {"nhsNumber": corrupt_nhs(nhs) if bad_nhs else nhs, "givenName": g, "familyName": f,
                           "dateOfBirth": iso(dob_w), "postcode": addr["postcode"]}
                    add_address(ids, addr_line, uprn)
                    rec = {"kind": "nhs.gp-registration", "localRef": ref, "observedAt": obs_nhs,
                           "identifiers": ids, "fields": fields}
                    rej = None
                    if reject_rate():
                        dates = [("identifiers", "dateOfBirth", dob_w), ("fields", "registeredFrom", reg_from)]
                        rej = reject_json(rec, dates, ["practice", "registeredFrom"])
                    line = gp_sink.record(rec)
                    fhir_sink.record(fhir_patient(rec))
                    truth_row([gp_sink.rel, ref, cid])
                    stats["gp_records"] += 1
                    stats["named_records"] += 1
                    stats["records"] += 1
                    if nf:
                        stats["name_faults"] += 1
                        note_fault(gp_sink, line, ref, cid, nf, nf_field)
                    note_all(gp_sink, line, ref, cid, hfaults)
                    count_record("gp", eligible_kinds(given, family, dob_o), nhs, addr_line, uprn)
                    evidence.append(("gp", rej is None and not bad_nhs, dereg is None, None))
                    if bad_nhs:
                        stats["nhs_invalid"] += 1
                        note_fault(gp_sink, line, ref, cid, "nhs-invalid-check", "identifiers.nhsNumber")
                    if rej:
                        stats["reject"] += 1
                        note_fault(gp_sink, line, ref, cid, *rej)
                    if flagged:
                        stats["gp_young_carer_records"] += 1
                        gp_carer_accepted = rej is None and not bad_nhs
                # What the young-carers report should find: a GP says young carer, the school the
                # child is on roll at now says not, and the gateway accepts both records.
                if gp_carer and not yc and current_enrolment_accepted and gp_carer_accepted:
                    stats["young_carers_report_expected"] += 1

            # ---- Housing ------------------------------------------------------------------
            if tenancy is not None:
                t_no, t_from, t_to, temp, moved_flag = tenancy
                ref = f"HT-{t_no:07d}-{k + 1}"
                g, f, nf, nf_field = faulty_names(given, family)
                no_id = no_id_rate()
                g, f, dob_w, _, addr_line, uprn, hfaults = harder_identifiers("housing", g, f, nf_field, dob_o, lambda: current_addr)
                nhs_cell = "" if no_id else f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}"
                cells = [ref, g or "", f, uk(dob_w), nhs_cell, current_pc, uk(t_from),
                         uk(t_to) if t_to else "", "Y" if temp else "N", "Y" if moved_flag else "N",
                         addr_line or "", uprn or ""]
                rej = None
                if reject_rate():
                    rej = reject_csv(cells, [(3, dob_w, "identifiers.dateOfBirth"),
                                             (6, t_from, "fields.tenancyFrom")],
                                     (6, "fields.tenancyFrom"))
                line = housing_sink.row(cells)
                truth_row([housing_sink.rel, ref, cid])
                stats["housing_police_records"] += 1
                stats["named_records"] += 1
                stats["records"] += 1
                if nf:
                    stats["name_faults"] += 1
                    note_fault(housing_sink, line, ref, cid, nf, nf_field)
                note_all(housing_sink, line, ref, cid, hfaults)
                count_record("housing", eligible_kinds(given, family, dob_o), None if no_id else nhs, addr_line, uprn)
                evidence.append(("housing", rej is None, t_to is None, moved_flag))
                if no_id:
                    stats["no_strong_id"] += 1
                    note_fault(housing_sink, line, ref, cid, "no-strong-identifier", "identifiers.nhsNumber")
                if rej:
                    stats["reject"] += 1
                    note_fault(housing_sink, line, ref, cid, *rej)

            # ---- Police -------------------------------------------------------------------
            if police_rate():
                stats["children_with_police"] += 1
                for _ in range(1 + (r() < 0.3) + (r() < 0.1)):
                    cat = pick(police_t)
                    age_now = age_on(dob, today)
                    if cat == "missing-episode" and age_now < 10:
                        cat = "concern"
                    day = T - 2 - rr(364)
                    day = max(day, dob_o + 1)
                    occurred = dt.datetime.combine(dt.date.fromordinal(day), dt.time(rr(24), rr(60)))
                    observed = min(occurred + dt.timedelta(minutes=20 + rr(900)), extract_dt)
                    present = True if cat == "missing-episode" else (r() < 0.7)
                    police_counter += 1
                    ref = f"MPS-{police_counter:07d}"
                    g, f, nf, nf_field = faulty_names(given, family)
                    no_id = no_id_rate()
                    g, f, dob_w, _, addr_line, uprn, hfaults = harder_identifiers("police", g, f, nf_field, dob_o, lambda: current_addr)
                    ids = {} if no_id else {"nhsNumber": nhs}
                    if g is not None:
                        ids["givenName"] = g
                    ids.update(familyName=f, dateOfBirth=iso(dob_w), postcode=current_pc)
                    add_address(ids, addr_line, uprn)
                    rec = {"kind": "police.notification", "localRef": ref,
                           "observedAt": observed.strftime("%Y-%m-%dT%H:%M:%SZ"), "identifiers": ids,
                           "fields": {"category": cat,
                                      "occurredAt": occurred.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                      "childPresent": present}}
                    rej = None
                    if reject_rate():
                        rej = reject_json(rec, [("identifiers", "dateOfBirth", dob_w),
                                                ("fields", "occurredAt", day)],
                                          ["category", "occurredAt"])
                    line = police_sink.record(rec)
                    truth_row([police_sink.rel, ref, cid])
                    stats["housing_police_records"] += 1
                    stats["named_records"] += 1
                    stats["records"] += 1
                    if nf:
                        stats["name_faults"] += 1
                        note_fault(police_sink, line, ref, cid, nf, nf_field)
                    note_all(police_sink, line, ref, cid, hfaults)
                    count_record("police", eligible_kinds(given, family, dob_o), None if no_id else nhs, addr_line, uprn)
                    if no_id:
                        stats["no_strong_id"] += 1
                        note_fault(police_sink, line, ref, cid, "no-strong-identifier", "identifiers.nhsNumber")
                    if rej:
                        stats["reject"] += 1
                        note_fault(police_sink, line, ref, cid, *rej)

            # ---- LA registers -------------------------------------------------------------
            registers = []
            if off_reason == "ehe" and not on_roll_now and r() < P_EHE_AFTER_OFF_ROLL:
                registers.append(("ehe", min(off_o + rr(11), T - 2), None))
            elif school_age and lives_in_area and upn is None:
                x = r()
                if x < P_EHE_NOT_ON_ROLL:
                    registers.append(("ehe", rand_weekday(max(dob_o + 5 * 365, T - 3 * 365), T - 2), None))
                elif x < P_EHE_NOT_ON_ROLL + P_CNIS_NOT_ON_ROLL:
                    registers.append(("cnis", rand_weekday(T - 400, T - 2), None))
            x = r()
            if x < P_CP:
                cp_from = rand_weekday(max(dob_o + 1, T - 3 * 365), T - 2)
                cin_from = max(dob_o + 1, cp_from - rr(120))
                registers.append(("cin", cin_from, None))
                cp_to = rand_weekday(cp_from + 90, T - 2) if (r() < 0.5 and cp_from + 90 < T - 2) else None
                registers.append(("cp", cp_from, cp_to))
            elif x < P_CP + P_CIN:
                cin_from = rand_weekday(max(dob_o + 1, T - 4 * 365), T - 2)
                cin_to = rand_weekday(cin_from + 60, T - 2) if (r() < 0.4 and cin_from + 60 < T - 2) else None
                registers.append(("cin", cin_from, cin_to))
            if registers:
                stats["children_on_register"] += 1
            for reg, r_from, r_to in registers:
                la_counter += 1
                ref = f"LA304-{reg.upper()}-{la_counter:06d}"
                g, f, nf, nf_field = faulty_names(given, family)
                ids = {}
                if r() < 0.85:
                    ids["nhsNumber"] = nhs
                if upn is not None and r() < 0.9:
                    ids["upn"] = upn
                g, f, dob_w, addr, addr_line, uprn, hfaults = harder_identifiers(
                    "la", g, f, nf_field, dob_o, lambda: home_addr if (moved_within and hr() < P_MOVED_LA_OLD) else current_addr)
                ids.update(givenName=g, familyName=f, dateOfBirth=iso(dob_w), postcode=addr["postcode"])
                add_address(ids, addr_line, uprn)
                fields = {"register": reg, "from": iso(r_from)}
                if r_to is not None:
                    fields["to"] = iso(r_to)
                rec = {"kind": "la.register", "localRef": ref, "observedAt": obs_la,
                       "identifiers": ids, "fields": fields}
                rej = None
                if reject_rate():
                    rej = reject_json(rec, [("identifiers", "dateOfBirth", dob_w), ("fields", "from", r_from)],
                                      ["register", "from"])
                line = la_sink.record(rec)
                truth_row([la_sink.rel, ref, cid])
                stats["named_records"] += 1
                stats["records"] += 1
                if nf:
                    stats["name_faults"] += 1
                    note_fault(la_sink, line, ref, cid, nf, nf_field)
                note_all(la_sink, line, ref, cid, hfaults)
                count_record("la", eligible_kinds(given, family, dob_o), ids.get("nhsNumber"), addr_line, uprn)
                evidence.append(("la", rej is None, r_to is None, reg))
                if rej:
                    stats["reject"] += 1
                    note_fault(la_sink, line, ref, cid, *rej)

            # ---- What the missing-education report must list ---------------------------
            why = expected_missing(age31, lives_in_area, enrolments_truth, evidence, upn is not None)
            if why is not None:
                family_expected.append((k, cid, why, age31 - 4, current_pc.split(" ")[0]))

        # The family's rows of the expected report, once every twin's roll is known.
        for k, cid, (status, reason), yg, district in family_expected:
            same_birth = [j for j in range(size) if j != k and dobs[j] == dobs[k]]
            if any(on_roll.get(j) for j in same_birth):
                reason += "; twin of a pupil on roll"
                stats["expected_twin_of_pupil"] += 1
            if moved_within:
                reason += "; moved within the LA"
            expected_sink.row([cid, status, reason, yg, district])
            stats["expected_missing"] += 1
            expected_counts[status] = expected_counts.get(status, 0) + 1

    stats["families"] = family_no
    stats["fault_counts"] = dict(sorted(fault_counts.items()))
    stats["files"] = {rel: s.count for rel, s in sorted(sinks.items())}
    stats["terms"] = [(name, s.isoformat(), e.isoformat()) for name, s, e in terms]
    stats["sessions_possible_full_term"] = {u: [2 * len(d) for d in school_days[u]] for u in SCHOOLS}
    stats["expected_by_status"] = dict(sorted(expected_counts.items()))
    stats["fault_by_source"] = fault_by_source
    stats["records_by_source"] = records_by_source
    for s in list(sinks.values()) + [truth, faults, expected_sink, fhir_sink, ctf_writer]:
        s.close()
    stats["other_forms"] = {
        ctf_writer.rel: f"{ctf_writer.pupils} pupils: {ctf_writer.enrolments} school.enrolment and"
                        f" {ctf_writer.attendance} school.attendance records",
        fhir_sink.rel: f"{fhir_sink.count} Patient resources: as many nhs.gp-registration records",
    }

    def data_rows(rel: str) -> int:
        with open(os.path.join(out_dir, rel), "rb") as fh:
            return sum(1 for _ in fh) - 1
    stats["ground_truth_rows"] = data_rows("ground-truth.csv")
    stats["fault_rows"] = data_rows("faults.csv")
    assert stats["ground_truth_rows"] == stats["records"] == sum(stats["files"].values())
    write_manifest(out_dir, stats, children, today, seed)
    return stats


def _pct(a: int, b: int) -> str:
    return f"{100.0 * a / b:.2f}% ({a}/{b})" if b else "n/a (0/0)"


def harder_manifest(st: dict) -> list[str]:
    """The MANIFEST lines for the faults of issue 10, with achieved rates per source."""
    fb, rb = st["fault_by_source"], st["records_by_source"]
    sources = ["school", "gp", "police", "housing", "la"]

    def count(pred, source=None) -> int:
        return sum(n for (fault, field, src), n in fb.items() if pred(fault, field) and (source is None or src == source))

    def per_source(pred, denom_key=None) -> str:
        parts = []
        for src in sources:
            d = rb.get(src, 0) if denom_key is None else rb.get((denom_key, src), 0)
            if d:
                parts.append(f"{src} {_pct(count(pred, src), d)}")
        total_d = sum(rb.get(s, 0) if denom_key is None else rb.get((denom_key, s), 0) for s in sources)
        return f"{_pct(count(pred), total_d)}; " + ", ".join(parts)

    typo = lambda field: (lambda f, fl: f.startswith("name-typo-") and fl == field)
    lines = [
        "- Harder faults for probabilistic linkage (issue 10; drawn from a second random stream), per record",
        "  (for school files per record too: the MIS holds one value per enrolment, carried by its",
        "  attendance and exclusion records); each fault is a row of faults.csv with its field:",
        f"  - Family-name typo (one letter inserted, deleted, substituted by a neighbouring key or transposed;"
        f" with the original swapped/dropped letters): {per_source(typo('identifiers.familyName'))}",
        f"  - Given-name typo (the same kinds): {per_source(typo('identifiers.givenName'))}",
        f"  - Short form or nickname instead of the full name (Alex for Alexander, Mo for Muhammad, Temi for"
        f" Temitope), of records whose child's name has one: {per_source(lambda f, fl: f == 'name-short-form', 'short')}",
        f"  - Another spelling of the given name (Mohammed / Muhammad, Aisha / Ayesha, Sophie / Sophia), of records"
        f" whose child's name has one: {per_source(lambda f, fl: f == 'name-spelling-variant', 'spelling')}",
        "    (short forms and spellings come from name_variants.json, the table the gateway embeds)",
        f"  - Day and month of birth swapped, of records whose day and month are both 12 or under and differ:"
        f" {per_source(lambda f, fl: f == 'dob-day-month-swapped', 'dob-swap')}",
        f"  - One part of a double-barrelled family name (Okafor-Williams given as Okafor or Williams), of records"
        f" of children with one: {per_source(lambda f, fl: f == 'name-family-part', 'family-part')}",
        f"  - The first part of a two-part given name (Mohamed for Mohamed Ali), of records of children with one:"
        f" {per_source(lambda f, fl: f == 'name-given-part', 'given-part')}",
        f"  - No given name at all (family name, date of birth and postcode): police"
        f" {_pct(count(lambda f, fl: f == 'no-given-name', 'police'), rb.get('police', 0))},"
        f" housing {_pct(count(lambda f, fl: f == 'no-given-name', 'housing'), rb.get('housing', 0))}",
        f"  - Case and accents a source's system imposes (police surnames in capitals, GP names without"
        f" diacritics; with the original case faults): {per_source(lambda f, fl: f in ('name-case', 'name-diacritics'))}",
        f"  - Records that carry an NHS number: {per_source(lambda f, fl: False, None).split(';')[0] and ''}"
        + ", ".join(f"{src} {_pct(rb.get(('nhs', src), 0), rb.get(src, 0))}" for src in sources)
        + " (GP records all do; no GP or housing record carries a UPN)",
        "  - Address (first line) and UPRN: each family has one address and UPRN, a family that moved two;"
        " records carrying an address: "
        + ", ".join(f"{src} {_pct(rb.get(('address', src), 0), rb.get(src, 0))}" for src in sources)
        + "; a UPRN: "
        + ", ".join(f"{src} {_pct(rb.get(('uprn', src), 0), rb.get(src, 0))}" for src in sources),
        f"    - of addresses written: street type abbreviated (Rd, St, Gdns) {_pct(count(lambda f, fl: f == 'address-abbreviation'), sum(rb.get(('address', s), 0) for s in sources))};"
        f" flat number left out {count(lambda f, fl: f == 'address-no-flat')}; flat written another way (\"Flat 2 14 ...\", \"2/14 ...\")"
        f" {count(lambda f, fl: f == 'address-flat-format')}; in capitals {count(lambda f, fl: f == 'address-case')};"
        f" house number mistyped {count(lambda f, fl: f == 'address-number-typo')}; UPRN mistyped {count(lambda f, fl: f == 'uprn-typo')}"
        " (housing writes the canonical form)",
        f"  - Records holding a family's old address after a move (school always; a GP or the LA sometimes,"
        f" for moves within the LA): {count(lambda f, fl: f == 'old-address')}",
        f"  - Twins (same family name, date of birth and address, different given names): {_pct(st['twin_children'], st['children'])}"
        f" of children, in {st['twin_sets']} sets; {st['expected_twin_of_pupil']} of school age in area are on no"
        f" roll while their twin is on one (the expected report lists them)",
    ]
    return lines


def write_manifest(out_dir: str, st: dict, children: int, today: dt.date, seed: int) -> None:
    fc = st["fault_counts"]
    rejects = fc.get("reject-bad-date", 0) + fc.get("reject-missing-field", 0)
    cmd = "python3 ops/sample-data/generate.py"
    if children != DEFAULT_CHILDREN:
        cmd += f" --children {children}"
    if today.isoformat() != DEFAULT_TODAY:
        cmd += f" --today {today.isoformat()}"
    if seed != SEED:
        cmd += f" --seed {seed}"
    lines = [
        "# Sightline synthetic sample data",
        "",
        "Invented children of one local authority (Brent, DfE LA code 304), as its schools, GP",
        "practices, police, housing and LA would export them, with the faults real extracts have.",
        "Every name, NHS number and UPN is synthetic; NHS numbers start with 9 (the test range).",
        "",
        f"- Seed: {seed}; children: {children} (ages 2-17) in {st['families']} families; today: {today.isoformat()}",
        f"- Regenerate (from the repository root): `{cmd}` (add `--out DIR` to write elsewhere).",
        "  Output is byte-identical for the same arguments; the clock is never read.",
        f"- Attendance half terms: " + "; ".join(f"{n} {s}..{e}" for n, s, e in st["terms"])
        + "; full-term sessions possible per school: "
        + ", ".join(f"{u} {'/'.join(map(str, v))}" for u, v in st["sessions_possible_full_term"].items()) + ".",
        "",
        "## Files and record counts",
        "",
        "| file | records |",
        "|---|---|",
    ]
    for rel, n in st["files"].items():
        lines.append(f"| `{rel}` | {n} |")
    lines += [
        f"| `ground-truth.csv` (file, localRef, child) | {st['ground_truth_rows']} |",
        f"| `faults.csv` (file, line, localRef, child, fault, field) | {st['fault_rows']} |",
        "",
        "The same records in the forms other systems write them (not counted above, not in ground-truth.csv):",
        "",
        "| file | holds |",
        "|---|---|",
        *[f"| `{rel}` | {what} |" for rel, what in st["other_forms"].items()],
        "",
        f"`school-{CTF_SCHOOL}/ctf.xml` is that school's roll as a DfE Common Transfer File (CTF 21; `sightline submit"
        " --format ctf`): the",
        "pupils of its enrolment.csv in the same order, each with its attendance.csv half terms as YearData (Year,",
        "AttendanceStartDate, sessions possible, authorised, unauthorised) and its SchoolHistory (EntryDate, LeavingDate,",
        "LeavingReason as the regulation 8(1) ground). It holds what the MIS holds, faults in names and UPNs included,",
        "but none of the CSV rows' blanked or impossible values; only the elements Sightline reads are written.",
        "`nhs/gp-registrations.fhir.ndjson` is gp-registrations.ndjson as FHIR R4 Patient resources (`--format fhir`),",
        "line for line: Patient.id is the localRef, the NHS number an identifier of system",
        "https://fhir.nhs.uk/Id/nhs-number, the practice generalPractitioner.identifier (ODS code) with the",
        "registration as its period; faults included, the carers-register flag left out (a Patient has no place for it).",
        "",
        "CSV files are RFC 4180 with CRLF line ends and a header row, UTF-8 without BOM; dates",
        "dd/mm/yyyy. Column mappings for the client are in `ops/mappings/`. NDJSON records follow",
        "DESIGN.md (\"Record kinds (v1)\"); absent optional values are omitted, never null.",
        "Attendance localRef = `Adno#Period Start` as written in the CSV (e.g. `000123#03/09/2026`).",
        "`line` in faults.csv is the physical line in the file (CSV header = line 1).",
        "",
        "## Faults (achieved)",
        "",
        f"- Name variant (typo: swapped/dropped letter; case; spacing/punctuation; diacritics), per record: "
        f"{_pct(st['name_faults'], st['named_records'])}",
        f"  - name faults of every kind, these and the harder ones below: " + ", ".join(f"{k[5:]} {v}" for k, v in fc.items() if k.startswith("name-")),
        f"- GP records with an invalid NHS check digit: {_pct(st['nhs_invalid'], st['gp_records'])}",
        f"- School records with an invalid UPN check letter (per enrolment, carried by its attendance",
        f"  and exclusions): {_pct(st['upn_invalid'], st['school_records'])}",
        f"- Housing and police records with no NHS number or UPN (name + DOB + postcode only): "
        f"{_pct(st['no_strong_id'], st['housing_police_records'])}",
        f"- Children who moved (school holds the old postcode; GP, housing, police, LA the new): "
        f"{_pct(st['moved_children'], children)}",
        *harder_manifest(st),
        f"- Records the gateway must reject (required field blank or missing, or an impossible date): "
        f"{_pct(rejects, st['records'])}",
        f"  - missing field {fc.get('reject-missing-field', 0)}, bad date {fc.get('reject-bad-date', 0)}",
        "",
        "## The world (achieved)",
        "",
        f"- Children living out of area: {_pct(st['out_of_area_children'], children)}",
        f"- School-age children in area on roll: {_pct(st['school_age_in_area_on_roll'], st['school_age_in_area'])}",
        f"- Enrolments off roll: {_pct(st['enrolments_off_roll'], st['enrolments'])};"
        f" re-appeared at another school: {st['reappeared']}; temporary UPNs: {st['temporary_upns']}",
        f"- Children with a GP registration: {_pct(st['children_with_gp'], children)}",
        f"- Families with a tenancy: {_pct(st['families_with_tenancy'], st['families'])}",
        f"- Children with police notifications: {_pct(st['children_with_police'], children)}",
        f"- Children on an LA register: {_pct(st['children_on_register'], children)}",
        f"- Attendance records persistently absent (>=10%): {_pct(st['persistent'], st['attendance_records'])};"
        f" severely (>=50%): {_pct(st['severe'], st['attendance_records'])}",
        f"- Enrolments with an exclusion (besides permanent): {_pct(st['children_excluded_on_roll'], st['enrolments'])}",
        f"- Enrolments flagged young carer: {_pct(st['enrolments_young_carer'], st['enrolments'])};"
        f" part-time timetable: {_pct(st['enrolments_part_time'], st['enrolments'])}",
        f"- GP carers registers (`youngCarer: true` on the child's latest GP registration; omitted when not):"
        f" {st['gp_young_carer_records']} records",
        f"  - young carers (school flag) with a GP registration: {_pct(st['gp_young_carer_children'], st['young_carers_with_gp'])}",
        f"  - pupils their school records as not young carers, with a GP: {_pct(st['gp_only_young_carers'], st['not_young_carer_pupils_with_gp'])}",
        f"  - the young-carers report should find {st['young_carers_report_expected']} of these: on roll now, and the GP and"
        f" current enrolment records both accepted (no invalid NHS number or UPN, not spoiled)",
        "",
        "## The missing-education report, expected (`expected-missing-education.csv`)",
        "",
        f"{st['expected_missing']} children: "
        + ", ".join(f"{k} {v}" for k, v in st["expected_by_status"].items())
        + ". Columns: child, status (as the report's `status`), why, schoolYearGroup, postcodeDistrict.",
        "",
        "What `MissingEducationReport` must list if every record the gateway accepts is linked to the right",
        "child. A child is listed when, on the generator's today, all of these hold:",
        "- compulsory school age: Year 1 to Year 11 (from the month of birth; Reception and Year 12 are not);",
        "- resident in the LA: the family's latest address is in HA0 HA1 HA3 HA8 HA9 NW2 NW6 NW9 NW10 W9 W10",
        "  (families who moved out of area are not; a GP or LA record may still hold the old address of a",
        "  family that moved within the LA, which is in the area too);",
        "- known: a current GP registration (no deregistration), a current tenancy (no end date, not moved",
        "  out of area) or a current LA register entry, in a record the gateway accepts;",
        "- on no school roll the gateway knows: no accepted enrolment without an off-roll date;",
        "- not on a current EHE or CNIS register entry the gateway accepts, and the latest accepted tenancy",
        "  does not say the household moved out of area.",
        "\"Accepted\" means not one of the records the gateway must reject: an invalid NHS number or UPN, a",
        "blank required field or an impossible date (faults.csv: nhs-invalid-check, upn-invalid-check,",
        "reject-*). Records without a given name, and records with `address` or `uprn`, count as accepted",
        "(issue 10 item 6). A pupil whose only current enrolment is rejected is listed (the gateway cannot",
        "know the roll), and `why` says so. `status` follows the report: `transfer-unconfirmed` when the latest",
        "accepted enrolment that ended says other-school, `off-roll` for another reason, `never-on-roll` when",
        "no accepted enrolment ended. `why`: never enrolled, off roll <reason>, enrolment not known to the",
        "gateway, with notes for twins of pupils on roll and for moves within the LA.",
        "",
    ]
    with open(os.path.join(out_dir, "MANIFEST.md"), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Deterministic synthetic sample data for Sightline.")
    ap.add_argument("--children", type=int, default=DEFAULT_CHILDREN, help="number of children (default 2000)")
    ap.add_argument("--out", default=HERE, help="output folder (default: this script's folder)")
    ap.add_argument("--today", default=DEFAULT_TODAY, help="the extract date, YYYY-MM-DD (default 2026-11-20)")
    ap.add_argument("--seed", type=int, default=SEED, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    try:
        today = dt.date.fromisoformat(args.today)
    except ValueError:
        ap.error(f"--today {args.today!r} is not a date in the form YYYY-MM-DD")
    if args.children < 1:
        ap.error("--children must be at least 1")
    st = generate(children=args.children, out_dir=args.out, today=today, seed=args.seed)
    print(f"wrote {st['records']} records for {args.children} children to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
