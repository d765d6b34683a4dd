"""The curated facts and the passage behind each: every field of every event in events/ that
is not the cited article's own words is listed here with the words that state it, in an article
the event cites (`test_curated.py` checks both ways). A reader checks the reading here; a field
added to events/ without its passage fails the test.

Keys are (stream, version) and a field's path in the event (`effective`, `data.amount.amount`);
a path ending in `*` covers each path it begins. (stream, 0) holds what covers every event of
the stream. Apostrophes are compared straight (the articles write them curly).
"""

from __future__ import annotations

VM = "vodafone-microsoft"
TM = "telefonica-microsoft"

PASSAGES: dict[tuple[str, int], dict[str, tuple[str, ...]]] = {
    (VM, 0): {
        "effective": ("ont annoncé les deux sociétés le 16 janvier 2024",),
    },
    (VM, 1): {
        "data.title": ("Vodafone and Microsoft have recently unveiled a strategic partnership",),
        "data.kind": ("a strategic partnership spanning 10 years",),
        "data.term.years": ("a strategic partnership spanning 10 years",),
        "data.parties[0].*": ("Le groupe de télécommunications britannique Vodafone",),
        "data.parties[1].*": ("le plus grand éditeur de logiciels au monde Microsoft",),
        "data.regions[*": (
            (
                "more than 300 million businesses, public sector entities, and "
                "individual consumers in Europe and Africa"
            ),
        ),
        "data.reach.*": (
            "more than 300 million businesses, public sector entities, and individual consumers",
            (
                "à plus de 300 millions d'entreprises, d'organismes de service public et de "
                "consommateurs"
            ),
        ),
        "data.summary": (
            "a strategic partnership spanning 10 years",
            (
                "les technologies futures telles que l'Internet des objets et les services cloud "
                "seront étendues aux fonctions d'IA"
            ),
            (
                "Cela fournira des plateformes et des services numériques à plus de 300 millions "
                "d'entreprises, d'organismes de service public et de consommateurs en Europe et en "
                "Afrique"
            ),
            "strategically structured around five principal areas of cooperation",
        ),
    },
    (VM, 2): {
        "data.investor": ("a substantial commitment from Vodafone",),
        "data.amount.*": ("investing $1.5 billion", "1,5 milliard de dollars"),
        "data.equivalents[0].*": ("(environ 1,37 milliard d'euros)",),
        "data.purpose": (
            (
                "in cloud technology and AI services focused on customer needs, in partnership "
                "with Microsoft"
            ),
            (
                "au cours des dix prochaines années dans des services développés en collaboration "
                "avec Microsoft"
            ),
        ),
        "data.period": ("over the next decade", "au cours des dix prochaines années"),
        "data.firmness": ("Vodafone a annoncé son intention d'investir",),
        "data.firmness_said[0].*": (
            "The agreement includes a substantial commitment from Vodafone",
        ),
        "data.firmness_said[1].*": ("Vodafone a annoncé son intention d'investir",),
    },
    (VM, 3): {
        "data.investor": ("Microsoft planning to allocate",),
        "data.amount": ("an unspecified amount of investment",),
        "data.firmness": ("Microsoft planning to allocate", "a également l'intention d'investir"),
        "data.recipient": (
            "investment into Vodafone's Internet of Things (IoT) connectivity platform",
        ),
    },
    (VM, 4): {
        "data.*": ("Microsoft utilisera à l'avenir les services fixes et mobiles de Vodafone",),
    },
    (VM, 5): {
        "data.title": ("Cette plateforme devrait devenir une société distincte et indépendante",),
        "data.due": ("d'ici avril 2024",),
        "data.description": (
            "This platform is on track to emerge as an independent entity by April",
            (
                "« La nouvelle société attirera de nouveaux partenaires et clients, stimulera la "
                "croissance des applications et étendra la plateforme pour connecter davantage "
                "d'appareils, de véhicules et de machines. »"
            ),
        ),
    },
    (VM, 6): {
        "data.name": (
            "Avec l'aide de l'IA générative de Microsoft",
            "l'objectif est d'améliorer le support des clients Vodafone",
        ),
        "data.description": ("transforming Vodafone's customer service experience",),
        "data.objectives[0]": (
            "the enhancement of Vodafone's digital assistant, TOBi",
            (
                "the integration of advanced generative AI technology, utilizing the capabilities "
                "of Microsoft Azure OpenAI"
            ),
        ),
        "data.objectives[1]": ("step up the quality of customer experience for consumers",),
    },
    (VM, 7): {
        "data.description": (
            (
                "fournir à grande échelle la plate-forme mondiale de Vodafone pour l'Internet des "
                "objets"
            ),
        ),
        "data.objectives[0]": (
            "enhance connectivity across a wider range of devices, vehicles, and machinery",
        ),
    },
    (VM, 8): {
        "data.*": (
            (
                "modernizing the company's overarching strategy for cloud services in its global "
                "data centers"
            ),
            (
                "Vodafone has expressed its intention to revitalize its data centers, leveraging "
                "the advanced infrastructure of Microsoft Azure"
            ),
        ),
    },
    (VM, 9): {
        "data.*": (
            "innovating digital and financial solutions for businesses",
            (
                "Le partenariat développera également des services numériques et financiers "
                "pour les entreprises, en particulier pour les petites et moyennes entreprises "
                "en Europe et en Afrique"
            ),
            (
                "supporting the growth of small and medium-sized enterprises (SMEs), especially in "
                "Africa"
            ),
            (
                "initiatives aimed at improving digital literacy, enhancing skills, and engaging "
                "with the youth are planned to be launched"
            ),
        ),
    },
    (VM, 10): {"data.*": ("Vodafone Group chief executive Margherita Della Valle said",)},
    (VM, 11): {"data.*": ("Microsoft CEO Satya Nadella added",)},
    (VM, 12): {"data.topic": ("(Avec du matériel de dpa.)", "Le leader du marché européen")},
    (TM, 0): {
        "effective": ("The partnership will roll out in phases: - 2023-2024",),
    },
    (TM, 1): {
        "data.title": (
            (
                "partnership to revolutionize the telecommunications industry through cloud "
                "computing and artificial intelligence"
            ),
        ),
        "data.parties[*": ("Telefónica and Microsoft have announced",),
        "data.kind": ("A Strategic Cloud Partnership",),
        "data.summary": (
            (
                "The multi-year agreement positions Microsoft Azure as Telefónica's preferred "
                "cloud platform"
            ),
            (
                "leverages Microsoft Azure to accelerate Telefónica's digital transformation while "
                "creating new opportunities for programmable networks and AI-driven services"
            ),
            "The partnership will roll out in phases: - 2023-2024",
        ),
    },
    (TM, 2): {
        "data.*": (
            (
                "The multi-year agreement positions Microsoft Azure as Telefónica's preferred "
                "cloud platform"
            ),
        ),
    },
    (TM, 3): {"data.*": ("Migrate 1 million+ workloads to Azure",)},
    (TM, 4): {
        "data.*": ("positions Microsoft Azure as Telefónica's preferred cloud platform",),
    },
    (TM, 5): {"data.*": ("Telefónica will implement Microsoft's AI solutions",)},
    (TM, 7): {
        "data.*": (
            "The partners will co-develop industry-specific solutions combining",
            "Telefónica's 5G and edge computing capabilities",
            "Microsoft's AI and IoT platforms",
        ),
    },
    (TM, 8): {
        "data.*": (
            "A key component of the partnership focuses on network modernization",
            (
                "Azure for Operators: Telefónica will leverage Microsoft's telco cloud platform to "
                "increase network agility"
            ),
            (
                "Edge Integration: Combining Azure Edge Zones with Telefónica's distributed "
                "infrastructure"
            ),
            "API Ecosystem: Developing open network APIs for enterprise developers",
        ),
    },
    (TM, 10): {"data.*": ("2023-2024: Core workload migration and AI pilot programs",)},
    (TM, 11): {"data.*": ("2025: Full-scale AI implementation and edge network integration",)},
    (TM, 12): {"data.*": ("2026+: Expansion of co-developed solutions to global markets",)},
    (TM, 13): {"data.*": ("said José María Álvarez-Pallete, Telefónica's Chairman and CEO",)},
    (TM, 14): {
        "data.*": ("explained Judson Althoff, Microsoft's Executive Vice President",),
    },
    (TM, 16): {"data.*": ("Industry analysts predict this collaboration could",)},
    (TM, 17): {
        "data.*": (
            "Industry analysts predict this collaboration could",
            "Create $3-5B in new service revenue by 2027",
        ),
    },
    (TM, 18): {"data.*": ("Industry analysts predict this collaboration could",)},
    (TM, 19): {"data.*": ("Industry analysts predict this collaboration could",)},
    **{
        (TM, version): {
            "data.mitigations[*": (
                (
                    "Telefónica and Microsoft have established joint governance teams to address "
                    "these challenges"
                ),
            ),
        }
        for version in (20, 21, 22, 23)
    },
    (TM, 24): {
        "data.*": ("Telefónica and Microsoft have established joint governance teams",),
    },
    # the organizations (events/organizations.ndjson): each as the articles call it, known to
    # exist by the day an article speaks of it; nothing the articles do not say
    ("org:vodafone", 1): {
        "effective": ("ont annoncé les deux sociétés le 16 janvier 2024",),
        "data.name": ("Le groupe de télécommunications britannique Vodafone",),
        "data.kind": ("Le groupe de télécommunications britannique Vodafone",),
        "data.country": ("Le groupe de télécommunications britannique Vodafone",),
    },
    ("org:microsoft", 1): {
        "effective": ("ont annoncé les deux sociétés le 16 janvier 2024",),
        "data.name": ("le plus grand éditeur de logiciels au monde Microsoft",),
        "data.kind": ("le plus grand éditeur de logiciels au monde Microsoft",),
        "data.country": ("Le groupe américain a également l'intention d'investir",),
    },
    ("org:telefonica", 1): {
        "effective": ("The partnership will roll out in phases: - 2023-2024",),
        "data.name": ("enabling the telecom giant to",),
        "data.kind": ("enabling the telecom giant to",),
    },
    ("org:vodafone-iot-platform", 1): {
        "effective": ("ont annoncé les deux sociétés le 16 janvier 2024",),
        "data.name": ("Vodafone's Internet of Things (IoT) connectivity platform",),
    },
    ("org:vodafone-iot-platform", 2): {
        "effective": ("ont annoncé les deux sociétés le 16 janvier 2024",),
        "data.parent": ("Vodafone's Internet of Things (IoT) connectivity platform",),
        "data.firmness": ("This platform is on track to emerge as an independent entity by April",),
        "data.due": ("d'ici avril 2024",),
    },
}
